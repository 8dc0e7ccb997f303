"""TLS settings of the Dask executor and the plain-tcp warning, without any network.

The real TLS cluster is in test_dask.py; here no connection is ever made (a fake Client stands in).
"""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from natsel.cli import main
from natsel.executors._tls import host_of, is_loopback, plaintext_warning, scheme_of

BASE = """
fitness: helpers:counted_mixed
workers: 0
evolution: {population: 4, generations: 1}
space:
  x: {low: 0, high: 10}
"""
SECURITY = "  security:\n    ca_file: certs/ca.pem\n    cert: certs/natsel.pem\n    key: certs/natsel.key\n"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.255.3.4", "::1", "[::1]", "localhost", "LOCALHOST", "localhost.",
                                  "::ffff:127.0.0.1"])
def test_loopback_hosts(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["10.255.255.1", "0.0.0.0", "192.168.1.20", "::", "2001:db8::1", "scheduler",
                                  "localhost.example.com", "127.0.0.1.nip.io", ""])
def test_other_hosts_are_not_loopback(host):
    assert not is_loopback(host)


def test_addresses_are_parsed_like_dask():
    assert scheme_of("tls://a:1") == "tls" and scheme_of("a:1") == "tcp" and scheme_of("TCP://a:1") == "tcp"
    assert host_of("tcp://[::1]:8786") == "::1" and host_of("10.0.0.1:8786") == "10.0.0.1"
    assert host_of("tcp://Sched.Example:8786") == "sched.example" and host_of("tcp://:8786") == ""


@pytest.mark.parametrize("address", ["tcp://10.255.255.1:8786", "10.255.255.1:8786", "ws://10.255.255.1:8786",
                                     "tcp://scheduler.example:8786", "tcp://0.0.0.0:8786"])
def test_plain_tcp_off_this_machine_gets_one_warning_line(address):
    text = plaintext_warning(address)
    assert text is not None and "\n" not in text
    assert address in text and "neither encrypted nor authenticated" in text and "docs/dask.md" in text


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "tcp://localhost:8786", "tcp://[::1]:8786",
                                     "127.0.0.1:8786", "tls://10.255.255.1:8786", "tls://scheduler.example:8786",
                                     "inproc://10.0.0.1/1/2"])
def test_no_warning_for_loopback_or_tls(address):
    assert plaintext_warning(address) is None


def test_the_warning_needs_no_dns(monkeypatch):
    def no_dns(*args, **kwargs):
        raise AssertionError("plaintext_warning must not resolve names")

    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "create_connection"):
        monkeypatch.setattr(socket, name, no_dns)
    assert plaintext_warning("tcp://localhost:8786") is None
    assert plaintext_warning("tcp://gpu-box.internal:8786") is not None


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(res, where: str, words: str) -> str:
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"error: {where}: "), lines[0]
    assert words in lines[0], lines[0]
    assert "Traceback" not in res.output
    return lines[0]


def test_missing_certificate_file_is_a_config_error_at_its_line(write_config, tmp_path):
    path = write_config(BASE + "executor:\n  scheduler: tls://127.0.0.1:8786\n" + SECURITY)
    res = cli("evolve", path, "--run-dir", tmp_path / "out", "-q")
    one_error_line(res, f"{path}:9", f"cannot read ca_file {tmp_path / 'certs' / 'ca.pem'}")
    assert not (tmp_path / "out").exists()


def test_tls_scheduler_without_credentials_says_what_is_needed(write_config, tmp_path):
    path = write_config(BASE + "executor:\n  scheduler: tls://127.0.0.1:8786\n")
    res = cli("evolve", path, "--run-dir", tmp_path / "out", "-q")
    one_error_line(res, f"{path}:7", "needs TLS credentials: 'security: {ca_file, cert, key}'")
    res = cli("evolve", write_config(BASE), "--scheduler", "tls://127.0.0.1:8786", "--run-dir", tmp_path / "out")
    one_error_line(res, "--scheduler", "--tls-ca-file, --tls-cert, --tls-key")
    assert not (tmp_path / "out").exists()


def test_security_missing_a_key(write_config, tmp_path):
    path = write_config(BASE + "executor:\n  scheduler: tls://h:1\n  security:\n    ca_file: ca.pem\n")
    one_error_line(cli("evolve", path, "-q"), f"{path}:8", "'security' needs 'cert'")


def test_bad_credentials_are_found_before_anything_runs(write_config, tmp_path, tls_certs):
    tls_certs("natsel")
    tls_certs("other")
    good = write_config(BASE + "executor:\n  scheduler: tls://127.0.0.1:8786\n" + SECURITY)
    swapped = write_config(good.read_text().replace("natsel.key", "other.key"), "swapped.yaml")
    one_error_line(cli("evolve", swapped, "--run-dir", tmp_path / "out"), f"{swapped}:11",
                   "does not belong to cert")
    not_pem = write_config(good.read_text().replace("cert: certs/natsel.pem", "cert: certs/natsel.key"), "np.yaml")
    one_error_line(cli("evolve", not_pem, "--run-dir", tmp_path / "out"), f"{not_pem}:10", "is not a PEM certificate")
    plain = write_config(good.read_text().replace("tls://", "tcp://"), "plain.yaml")
    one_error_line(cli("evolve", plain, "--run-dir", tmp_path / "out"), f"{plain}:8",
                   "apply only to a tls:// scheduler")
    # the command line cannot silently drop the config's credentials either
    one_error_line(cli("evolve", good, "--scheduler", "tcp://127.0.0.1:8786", "--run-dir", tmp_path / "out"),
                   "--scheduler", "tcp://127.0.0.1:8786 would ignore them")
    assert not (tmp_path / "out").exists()


def test_bad_tls_options_are_one_line(write_config, tmp_path, tls_certs):
    cfg = write_config(BASE)
    cert, key = tls_certs("natsel")
    ca = cert.parent / "ca.pem"
    run = ("evolve", cfg, "--scheduler", "tls://127.0.0.1:8786", "--run-dir", tmp_path / "out", "-q")
    one_error_line(cli(*run, "--tls-ca-file", ca, "--tls-cert", tmp_path / "nope.pem", "--tls-key", key),
                   "--tls-cert", f"cannot read cert {tmp_path / 'nope.pem'}")
    one_error_line(cli(*run, "--tls-ca-file", ca), "--tls-cert", "--tls-ca-file needs --tls-cert too")
    one_error_line(cli(*run, "--tls-ca-file", key, "--tls-cert", cert, "--tls-key", key),
                   "--tls-ca-file", "holds no PEM CA certificate")
    assert not (tmp_path / "out").exists()


class FakeClient:
    """Stands in for distributed.Client: records how natsel would connect, then fails like a dead scheduler."""

    calls: list = []

    def __init__(self, address, **kwargs):
        FakeClient.calls.append((address, kwargs))
        raise OSError("no scheduler in this test")


@pytest.fixture
def fake_client(monkeypatch):
    distributed = pytest.importorskip("distributed")
    FakeClient.calls = []
    monkeypatch.setattr(distributed, "Client", FakeClient)
    return FakeClient.calls


WARNING = "neither encrypted nor authenticated"


def test_evolve_warns_once_for_plain_tcp_off_this_machine(write_config, tmp_path, fake_client):
    # .invalid never resolves (RFC 2606), and the fake client connects nowhere anyway
    address = "tcp://natsel-test.invalid:8786"
    res = cli("evolve", write_config(BASE), "--scheduler", address, "--run-dir", tmp_path / "r", "-q")
    lines = res.stderr.strip().splitlines()
    assert [line for line in lines if WARNING in line] == [plaintext_warning(address)]
    assert lines[-1].startswith(f"error: cannot reach the Dask scheduler at {address}") and res.exit_code == 2
    assert fake_client == [(address, {"timeout": 20.0, "set_as_default": False, "security": None})]


def test_evolve_on_loopback_or_tls_does_not_warn(write_config, tmp_path, fake_client, tls_certs, monkeypatch):
    res = cli("evolve", write_config(BASE), "--scheduler", "tcp://127.0.0.1:8786", "--run-dir", tmp_path / "a", "-q")
    assert res.exit_code == 2 and WARNING not in res.stderr
    cert, key = tls_certs("natsel")
    monkeypatch.chdir(tmp_path)  # relative --tls-* paths are taken from the current folder
    res = cli("evolve", write_config(BASE), "--scheduler", "tls://natsel-test.invalid:8786", "--run-dir", tmp_path / "b",
              "--tls-ca-file", "certs/ca.pem", "--tls-cert", "certs/natsel.pem", "--tls-key", "certs/natsel.key")
    assert res.exit_code == 2 and WARNING not in res.stderr
    address, kwargs = fake_client[-1]
    security = kwargs["security"]
    assert address == "tls://natsel-test.invalid:8786" and security.require_encryption
    assert (security.tls_ca_file, security.tls_client_cert, security.tls_client_key) == (
        str((tmp_path / "certs" / "ca.pem").resolve()), str(cert.resolve()), str(key.resolve()))
