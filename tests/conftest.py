from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a YAML config (dedented) into tmp_path next to a copy of tests/helpers.py."""
    shutil.copy(HERE / "helpers.py", tmp_path / "helpers.py")

    def write(text: str, name: str = "config.yaml") -> Path:
        p = tmp_path / name
        p.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return p

    return write


@pytest.fixture
def two_folders(tmp_path: Path) -> tuple[Path, Path]:
    """Folder a: a fitness module, a file it imports when called, and a colorsys.py that is not the standard
    one; folder b: a fitness that imports the standard colorsys when called."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "colorsys.py").write_text("raise ImportError('the colorsys.py of folder a was imported')\n")
    (a / "beside.py").write_text("VALUE = 3.0\n")
    (a / "fit_a.py").write_text("def score(genome):\n    import beside\n    return beside.VALUE * genome['x']\n")
    (b / "fit_b.py").write_text("def score(genome):\n    import colorsys\n"
                                "    return colorsys.rgb_to_hsv(0.2, 0.4, 0.4)[0] + genome['x']\n")
    for folder, name in ((a, "fit_a"), (b, "fit_b")):
        (folder / "config.yaml").write_text(f"fitness: {name}:score\nworkers: 1\nevolution: {{population: 2, "
                                            "generations: 1}\nspace:\n  x: [1, 2]\n")
    return a, b


@pytest.fixture(autouse=True)
def _fresh_helper_calls():
    import sys

    shared = sys.modules.get("natsel_test_shared")  # every copy of helpers.py keeps its calls there
    if shared is not None:
        shared.CALLS.clear()
    yield


@pytest.fixture
def tls_certs(tmp_path: Path):
    """A throw-away CA and certificates signed by it (the openssl CLI), in tmp_path/certs.

    Returns a function ``name -> (cert, key)`` that makes (once) a certificate and key for ``name``;
    the CA is ``certs/ca.pem``. A second, unrelated CA signs ``rogue`` (a stranger's credentials).
    """
    import subprocess

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make test certificates")
    folder = tmp_path / "certs"
    folder.mkdir(exist_ok=True)
    key_args = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def sh(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=folder, check=True, capture_output=True, timeout=60)

    def ca(name: str) -> None:
        sh("req", "-x509", *key_args, "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
           "-subj", f"/CN=natsel test {name}", "-addext", "basicConstraints=critical,CA:TRUE",
           "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    ca("ca")

    def make(name: str) -> tuple[Path, Path]:
        cert, key = folder / f"{name}.pem", folder / f"{name}.key"
        if not cert.exists():
            signer = "ca"
            if name == "rogue":
                ca("rogue-ca")
                signer = "rogue-ca"
            sh("req", *key_args, "-keyout", key.name, "-out", f"{name}.csr", "-subj", f"/CN={name}")
            sh("x509", "-req", "-in", f"{name}.csr", "-CA", f"{signer}.pem", "-CAkey", f"{signer}.key",
               "-CAcreateserial", "-out", cert.name, "-days", "2")
        return cert, key

    return make


@pytest.fixture(scope="session")
def plain_tracked_trials(tmp_path_factory):
    """The trial table of tests/test_tracking.py's default search run without tracking: what every tracked
    run of it must record (run once per session; the search is deterministic)."""
    from test_tracking import TRACKED, trial_table

    import natsel

    folder = tmp_path_factory.mktemp("plain-tracked")
    shutil.copy(HERE / "helpers.py", folder / "helpers.py")
    cfg = folder / "config.yaml"
    cfg.write_text(TRACKED.format(population=10, generations=3, tracking=""), encoding="utf-8")
    return trial_table(natsel.evolve(cfg, folder / "plain", progress=False))
