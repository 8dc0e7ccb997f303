"""Issue 26: CSV as people have it (delimiters, quotes, text columns) and what a model's raw input
becomes. Pure Python: no TensorFlow."""

from __future__ import annotations

import re

import numpy as np
import pytest

from natsel import DataError
from natsel._predict import read_csv_batches
from natsel.objectives.keras import table
from natsel.objectives.keras.data import load_dataset


def write(tmp_path, text, name="d.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


ROWS = "\n".join(f"{c},{1000 + 37 * i},\"{i}, or so\",{'ab'[i % 2]}" for i, c in
                 enumerate(["red", "green", "blue"] * 10))


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_a_csv_with_a_text_column_is_read_with_its_delimiter_sniffed(tmp_path, delimiter):
    """Issue 26 item 5: semicolon and tab files, quoted fields holding the delimiter, a text feature column."""
    text = "colour,size,note,label\n" + ROWS + "\n"
    if delimiter != ",":  # the quoted field keeps its comma
        text = "\n".join(delimiter.join(f'"{c}"' if "," in c else c for c in _split(line)) for line in text.splitlines())
    write(tmp_path, text)
    ds = load_dataset({"source": "csv", "path": "d.csv", "categorical": ["note"]}, tmp_path, seed=0)
    kinds = {c.name: c.kind for c in ds.columns}
    assert kinds == {"colour": "categorical", "size": "numeric", "note": "categorical"}
    colour = next(c for c in ds.columns if c.name == "colour")
    assert colour.vocabulary == ["blue", "green", "red"] and ds.classes == ["a", "b"]
    # 1 numeric input for size, 3 + 1 for colour, (values of note in train) + 1 for note
    note = next(c for c in ds.columns if c.name == "note")
    assert ds.x_train.shape[1] == 4 + 1 + len(note.vocabulary) + 1
    assert ds.raw_test.shape[1] == 3 and ds.raw_test.dtype == object


def _split(line):
    import csv

    return next(csv.reader([line]))


def test_a_column_of_numbers_with_some_text_is_an_error_unless_called_categorical(tmp_path):
    """Issue 26 item 5: a typo in a numeric column is not silently a category."""
    write(tmp_path, "a,b,label\n" + "\n".join(f"{i},{i * 2},{'xy'[i % 2]}" for i in range(20)) + "\n3,n/a,x\n")
    with pytest.raises(DataError, match=r"d.csv:22: column 'b' is not numeric \('n/a'\) but 20 of its 21"):
        load_dataset({"source": "csv", "path": "d.csv"}, tmp_path)
    ds = load_dataset({"source": "csv", "path": "d.csv", "categorical": ["b"]}, tmp_path)
    assert [c.kind for c in ds.columns] == ["numeric", "categorical"]


def test_one_hot_keeps_slot_zero_for_a_value_never_seen():
    """Issue 26 item 5: an unknown category at predict time has its own input, as StringLookup's OOV slot."""
    cols = [table.Column("n", table.NUMERIC, 10.0, 2.0), table.Column("c", table.CATEGORICAL, vocabulary=["a", "b"])]
    raw = np.array([[12.0, "b"], [8.0, "zzz"]], dtype=object)
    assert table.encode(cols, raw).tolist() == [[1.0, 0.0, 0.0, 1.0], [-1.0, 1.0, 0.0, 0.0]]
    inputs = table.model_inputs(cols, raw)
    assert inputs["n"].tolist() == [12.0, 8.0] and inputs["c"].tolist() == ["b", "zzz"]


def test_numeric_tables_encode_as_before():
    """A table of numbers is standardised exactly as natsel always did (same runs, same fingerprints)."""
    rng = np.random.default_rng(0)
    x = rng.normal(5, 3, (50, 4))
    cols = table.fit(["a", "b", "c", "d"], ["numeric"] * 4, x[:30])
    mean, std = x[:30].mean(axis=0), x[:30].std(axis=0)
    assert np.array_equal(table.encode(cols, x), ((x - mean) / std).astype(np.float32))


LABELS = {"task": "binary", "target": "label", "classes": ["a", "b"], "input": "columns", "header": True,
          "delimiter": None, "columns": [{"name": "colour", "kind": "categorical", "vocabulary": ["blue", "red"]},
                                         {"name": "size", "kind": "numeric"}]}


def test_predict_reads_a_file_by_column_name_and_refuses_what_does_not_fit(tmp_path):
    """Issue 26 item 4: a reordered file is read by name; a missing or unknown column, or text in a numeric
    column, is one line naming the file and line."""
    good = write(tmp_path, "size;label;colour\n12.5;a;red\n3;b;green\n", "good.csv")
    (rows, ys), = list(read_csv_batches(good, LABELS, 10))
    assert rows.tolist() == [["red", 12.5], ["green", 3.0]] and ys == ["a", "b"]
    batches = list(read_csv_batches(write(tmp_path, "colour,size\n" + "red,1\n" * 5, "many.csv"), LABELS, 2))
    assert [len(r) for r, _ in batches] == [2, 2, 1] and batches[0][1] is None
    for text, message in [("colour\nred\n", "missing column(s) size"),
                          ("colour,size,weight\nred,1,2\n", "column(s) weight the model was not trained on"),
                          ("colour,size\nred,1\nred,big\n", "bad.csv:3: column 'size' must be a number, got 'big'"),
                          ("colour,size\nred,1,3\n", "bad.csv:2: 3 fields, the header has 2")]:
        with pytest.raises(DataError, match=re.escape(message)):
            list(read_csv_batches(write(tmp_path, text, "bad.csv"), LABELS, 10))
