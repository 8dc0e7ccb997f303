"""Who may talk to the Dask cluster: TLS credentials and the plain-``tcp://`` warning.

Everything here but :func:`client_security` is pure (no network, no DNS, no Dask import), so the
config validator and the tests can use it freely.
"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PLAINTEXT_SCHEMES = {"tcp", "ws"}  # Dask comms that neither encrypt nor authenticate
TLS_SCHEMES = {"tls", "wss"}  # Dask comms that take TLS credentials


def scheme_of(address: str) -> str:
    """The comm scheme of a Dask address; an address without one is ``tcp`` (Dask's default)."""
    scheme, sep, _ = address.partition("://")
    return scheme.lower() if sep else "tcp"


def host_of(address: str) -> str:
    """The host part of a Dask address (``tcp://[::1]:8786`` -> ``::1``); empty if it has none."""
    rest = address.partition("://")[2] if "://" in address else address
    try:
        host = urlsplit(f"//{rest}").hostname
    except ValueError:
        return ""
    return host or ""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; decided without any DNS lookup.

    A name that would need DNS to resolve is not loopback: it could point anywhere.
    """
    host = host.strip().strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def plaintext_warning(address: str) -> str | None:
    """The one-line warning for a scheduler reached in the clear from off this machine, else None."""
    if scheme_of(address) not in PLAINTEXT_SCHEMES or is_loopback(host_of(address)):
        return None
    return (f"warning: the connection to the Dask scheduler at {address} is neither encrypted nor "
            "authenticated: anyone who can reach it can run code on its workers; use tls:// (see docs/dask.md)")


def check_tls_files(ca_file: Path, cert: Path, key: Path | None) -> tuple[str, str] | None:
    """Check that the credentials can be read and loaded: ``(field, problem)`` of the first bad one, or None.

    Loads them with :mod:`ssl` as a client would (no connection is made), so a missing or unreadable
    file, a file that is not PEM, an encrypted key or a key that does not belong to its certificate is
    found before a run starts. ``key`` None: the private key is in the ``cert`` file.
    """
    texts: dict[str, bytes] = {}
    for name, path in (("ca_file", ca_file), ("cert", cert), ("key", key)):
        if path is None:
            continue
        try:
            texts[name] = Path(path).read_bytes()
        except OSError as exc:
            return name, f"cannot read {name} {path}: {exc.strerror or exc.__class__.__name__}"
    key_name, key_path = ("key", key) if key is not None else ("cert", cert)
    if b"-----BEGIN CERTIFICATE-----" not in texts["cert"]:
        return "cert", f"cert {cert} is not a PEM certificate (no BEGIN CERTIFICATE block)"
    if b"PRIVATE KEY-----" not in texts[key_name]:
        hint = "" if key is not None else " (with no 'key' given, the cert file must hold the key too)"
        return key_name, f"{key_name} {key_path} holds no PEM private key{hint}"
    try:
        ctx = ssl.create_default_context(cafile=str(ca_file))
    except ssl.SSLError as exc:
        return "ca_file", f"ca_file {ca_file} holds no PEM CA certificate ({exc.reason or exc})"
    try:
        ctx.load_cert_chain(str(cert), str(key) if key is not None else None, password=_no_password)
    except _EncryptedKey:
        return key_name, f"the private key in {key_path} is encrypted; Dask needs an unencrypted key"
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            return key_name, f"the private key in {key_path} does not belong to cert {cert}"
        return key_name, f"cert {cert} and its key {key_path} do not load ({exc.reason or exc})"
    return None


class _EncryptedKey(Exception):
    pass


def _no_password() -> bytes:
    # An encrypted key must fail here, not prompt on the terminal (Dask cannot use it unattended).
    raise _EncryptedKey


def client_security(tls: Any) -> Any:
    """A ``distributed.security.Security`` for natsel's client from a :class:`~natsel._config.TLSSettings`.

    None stays None (Dask's own config decides); a ``Security`` passes through unchanged.
    """
    if tls is None or not hasattr(tls, "ca_file"):
        return tls
    from distributed.security import Security

    return Security(tls_ca_file=str(tls.ca_file), tls_client_cert=str(tls.cert),
                    tls_client_key=str(tls.key) if tls.key is not None else None, require_encryption=True)


#: what a TLS client sees when the scheduler rejects its certificate (an alert, or the connection cut)
_CERT_REFUSED = ("ALERT_UNKNOWN_CA", "ALERT_BAD_CERTIFICATE", "ALERT_CERTIFICATE", "ALERT_ACCESS_DENIED",
                 "ALERT_DECRYPT_ERROR", "SSLEOFError", "EOF occurred in violation of protocol",
                 "ALERT_HANDSHAKE_FAILURE")
#: what it sees when its own CA does not vouch for the scheduler's certificate
_SCHEDULER_UNTRUSTED = ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "certificate does not match")


def refusal(address: str, error: str, tls: Any) -> str | None:
    """A connection error to a ``tls://`` scheduler said in words: who refused whom, and which file to
    check; None when ``error`` is not a certificate problem (or the scheduler is not ``tls://``)."""
    if scheme_of(address) not in TLS_SCHEMES:
        return None
    cert = getattr(tls, "cert", None) or getattr(tls, "tls_client_cert", None) or "natsel's certificate"
    ca = getattr(tls, "ca_file", None) or getattr(tls, "tls_ca_file", None) or "the CA file"
    if any(s in error for s in _SCHEDULER_UNTRUSTED):
        return (f"natsel does not trust the certificate of the Dask scheduler at {address}: check ca_file {ca}: it "
                "must be the CA that signed the scheduler's certificate")
    if any(s in error for s in _CERT_REFUSED):
        reason = next(s for s in _CERT_REFUSED if s in error)
        return (f"the Dask scheduler at {address} rejected natsel's certificate ({reason}): check cert {cert}: it must "
                "be signed by the CA the scheduler was started with (its --tls-ca-file), and not expired")
    return None
