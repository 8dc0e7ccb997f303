"""bench/coco.py's report: ablations paired against natsel's default, on results made up by hand."""

from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import coco  # noqa: E402


def _rows(values: dict[str, dict[int, float]]) -> list[dict]:
    """One row per (searcher, function, instance): the same best value at both budgets."""
    return [{"dim": 5, "function": f, "instance": i, "searcher": s, "seconds": 1.0, "n": 250,
             "best": {"100": v, "250": v}} for s, per_f in values.items() for f, v in per_f.items() for i in (1, 2, 3)]


def test_an_ablation_is_paired_against_the_default_and_judged_against_tpe_in_its_own_pool() -> None:
    rows = _rows({"natsel": {1: 0.0, 2: 0.5}, "natsel:local=0": {1: 1e-4, 2: 0.5}, "tpe": {1: 1e-2, 2: 0.0},
                  "cmaes": {1: 1.0, 2: 1.0}, "random": {1: 1.0, 2: 1.0}})
    lines = coco.variants(rows)
    decades = math.log10(1e-4 + 1e-8) - math.log10(1e-8)  # function 1: worse by 4 decades; function 2: the same
    pairs = [decades] * 3 + [0.0] * 3
    diff, se = statistics.mean(pairs), statistics.stdev(pairs) / math.sqrt(6)
    assert lines[1] == (f"  natsel:local=0: at 100: +{diff:.2f} ± {se:.2f} (6 pairs); "
                        f"at 250: +{diff:.2f} ± {se:.2f} (6 pairs)")
    # in its own pool (without the default) it wins function 1 against TPE and loses function 2
    assert "vs tpe     at  250: 1 wins, 0 ties, 1 losses" in lines[3]


def test_no_ablation_no_section_and_the_report_prints_it_when_there_is_one() -> None:
    plain = _rows({"natsel": {1: 0.0}, "tpe": {1: 1e-2}, "cmaes": {1: 1.0}, "random": {1: 1.0}})
    assert coco.variants(plain) == []
    assert not any("ablations" in x for x in coco.report(plain))
    more = plain + _rows({"natsel:local=0": {1: 1e-3}})
    assert any(x.startswith("ablations against natsel's default") for x in coco.report(more))
