"""Reading and checking PEM files for TLS, shared by the server and client sides.

Each check raises :class:`TlsError` with one line naming the flag of the bad file.
TLS 1.2 is the minimum on every context of this service (O-RAN WG11 security
requirements ask for TLS 1.2 or newer on the interfaces of RIC components).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Final

MINIMUM_VERSION: Final = ssl.TLSVersion.TLSv1_2
"""O-RAN WG11 (Security Requirements Specifications) asks for TLS 1.2 or newer."""
SERVER_FLAGS: Final = {"cert": "--tls-cert", "key": "--tls-key", "client_ca": "--tls-client-ca"}
CLIENT_FLAGS: Final = {"ca": "--tls-ca", "cert": "--tls-cert", "key": "--tls-key"}


class TlsError(ValueError):
    """A certificate, key or CA file cannot be used; the message names its flag."""


def _read(path: Path, flag: str, marker: bytes, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TlsError(f"{flag} {path}: cannot read it: {exc.strerror or exc}") from None
    if marker not in data:
        raise TlsError(f"{flag} {path}: not a PEM {what} (no '{marker.decode()}' line)")
    return data


def read_cert(path: Path, flag: str) -> bytes:
    """The bytes of a PEM certificate file; :class:`TlsError` naming ``flag`` if not one."""
    return _read(path, flag, b"-----BEGIN CERTIFICATE-----", "certificate")


def read_key(path: Path, flag: str) -> bytes:
    """The bytes of a PEM private key file; :class:`TlsError` naming ``flag`` if not one."""
    return _read(path, flag, b"PRIVATE KEY-----", "private key")


def load_chain(context: ssl.SSLContext, cert: Path, key: Path, flags: dict[str, str]) -> None:
    """Load a certificate and its key into ``context``.

    Raises:
        TlsError: the key is not the certificate's, or either cannot be loaded.

    """
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc) or exc.reason == "KEY_VALUES_MISMATCH":
            raise TlsError(f"{flags['key']} {key} is not the key of the certificate in "
                           f"{flags['cert']} {cert}") from None
        raise TlsError(f"{flags['cert']} {cert} / {flags['key']} {key}: cannot be loaded: "
                       f"{exc.reason or exc}") from None
    except OSError as exc:  # gone since it was read: a rotation that removes, then writes
        raise TlsError(f"{flags['cert']} {cert} / {flags['key']} {key}: cannot be read: "
                       f"{exc.strerror or exc}") from None


def load_ca(context: ssl.SSLContext, ca: Path, flag: str) -> None:
    """Trust the CA certificate in ``ca`` on ``context``.

    Raises:
        TlsError: the file is not a usable CA certificate, naming ``flag``.

    """
    read_cert(ca, flag)
    try:
        context.load_verify_locations(cafile=str(ca))
    except ssl.SSLError as exc:
        raise TlsError(f"{flag} {ca}: not a usable CA certificate: {exc.reason or exc}") from None
    except OSError as exc:  # gone since read_cert read it
        raise TlsError(f"{flag} {ca}: cannot read it: {exc.strerror or exc}") from None
