"""Client-side TLS for the emulator, ``linkadapt models`` and the health check.

:class:`ClientTls` gives the clients their gRPC credentials and
:class:`ssl.SSLContext`, :func:`add_client_arguments` and :func:`client_tls_from`
their ``--tls-*`` flags, and :func:`client_failure_hint` turns a handshake failure
into one line naming the flag to fix.
"""

from __future__ import annotations

import argparse
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import grpc

from xapp.tls_pem import (
    CLIENT_FLAGS,
    MINIMUM_VERSION,
    SERVER_FLAGS,
    TlsError,
    load_ca,
    load_chain,
    read_cert,
    read_key,
)


@dataclass(frozen=True)
class ClientTls:
    """A client's TLS settings: the CA it trusts and, for mutual TLS, its certificate.

    ``flags`` names the options these came from, for error messages.
    """

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    server_name: str | None = None
    flags: dict[str, str] = field(default_factory=lambda: dict(CLIENT_FLAGS))

    @property
    def enabled(self) -> bool:
        """True when the client speaks TLS at all."""
        return self.ca is not None or self.cert is not None

    def check(self) -> None:
        """Raise :class:`TlsError` naming the flag of a missing or unusable file."""
        if (self.cert is None) != (self.key is None):
            raise TlsError(f"{self.flags['cert']} and {self.flags['key']} go together: "
                           "the client certificate and its key")
        if self.cert is not None and self.ca is None:
            raise TlsError(f"{self.flags['cert']} needs {self.flags['ca']}: the CA that signed "
                           "the server's certificate")
        self.ssl_context()

    def ssl_context(self) -> ssl.SSLContext:
        """An :class:`ssl.SSLContext` for httpx / urllib (verifies the server's certificate).

        Raises:
            TlsError: a file is missing or unusable, naming its flag.

        """
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        context.minimum_version = MINIMUM_VERSION
        if self.ca is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.minimum_version = MINIMUM_VERSION
            load_ca(context, self.ca, self.flags["ca"])
        if self.cert is not None and self.key is not None:
            read_cert(self.cert, self.flags["cert"])
            read_key(self.key, self.flags["key"])
            load_chain(context, self.cert, self.key, self.flags)
        return context

    def grpc_credentials(self) -> Any:
        """``grpc.ssl_channel_credentials`` from these files.

        Raises:
            TlsError: a file is missing or unusable, naming its flag.

        """
        self.check()
        ca = None if self.ca is None else read_cert(self.ca, self.flags["ca"])
        cert = None if self.cert is None else read_cert(self.cert, self.flags["cert"])
        key = None if self.key is None else read_key(self.key, self.flags["key"])
        return grpc.ssl_channel_credentials(ca, key, cert)

    def channel_options(self) -> list[tuple[str, str]]:
        """Channel options: the name to check the server's certificate against, if given."""
        return [] if self.server_name is None else [
            ("grpc.ssl_target_name_override", self.server_name)]


def pinned_context(cert: Path, client: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    """A client context trusting exactly the certificate in ``cert`` (no CA, no host name).

    For a check of the local service: it trusts the certificate the service itself
    serves, wherever its issuer is. ``client``: certificate and key to present.

    Raises:
        TlsError: a file cannot be used.

    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = MINIMUM_VERSION
    context.check_hostname = False  # the certificate itself is pinned
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # a leaf as its own trust anchor
    load_ca(context, cert, SERVER_FLAGS["cert"])
    if client is not None:
        load_chain(context, client[0], client[1], SERVER_FLAGS)
    return context


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--tls-ca``, ``--tls-cert``, ``--tls-key`` and ``--tls-server-name``."""
    group = parser.add_argument_group("TLS (the service's --tls-cert / --tls-client-ca)")
    group.add_argument("--tls-ca", type=Path, default=None,
                       help="CA certificate that signed the service's certificate: "
                            "connect over TLS")
    group.add_argument("--tls-cert", type=Path, default=None,
                       help="client certificate, for a service with mutual TLS")
    group.add_argument("--tls-key", type=Path, default=None, help="key of --tls-cert")
    group.add_argument("--tls-server-name", default=None,
                       help="name to check the service's certificate against, when it "
                            "differs from the host connected to")


def client_tls_from(args: argparse.Namespace) -> ClientTls | None:
    """The TLS of a client's arguments (``None``: plaintext).

    Raises:
        TlsError: missing or unusable files, naming the flag.

    """
    tls = ClientTls(args.tls_ca, args.tls_cert, args.tls_key, args.tls_server_name)
    if not tls.enabled:
        if args.tls_key is not None or args.tls_server_name is not None:
            raise TlsError("--tls-key and --tls-server-name need --tls-ca (and --tls-cert)")
        return None
    tls.check()
    return tls


_CLIENT_HINTS: Final = (
    (("Hostname mismatch", "hostname", "doesn't match", "Peer name"),
     "the server's certificate does not name the host connected to: check its SANs, or "
     "pass the name it has with --tls-server-name"),
    (("CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "unable to get local issuer",
      "self-signed certificate", "self signed certificate"),
     "the server's certificate is not signed by the CA of {ca}"),
    (("CERTIFICATE_REQUIRED", "certificate required", "HANDSHAKE_FAILURE",
      "handshake failure", "PEER_DID_NOT_RETURN"),
     "the server requires a client certificate (mutual TLS): pass {cert} and {key}"),
    (("UNKNOWN_CA", "unknown ca", "BAD_CERTIFICATE", "bad certificate",
      "DECRYPT_ERROR", "decrypt error"),
     "the server refused the client certificate of {cert}: it is not signed by the "
     "server's client CA"),
    (("WRONG_VERSION_NUMBER", "wrong version number", "PACKET_LENGTH_TOO_LONG",
      "record layer failure", "RECORD_LAYER_FAILURE", "packet length too long",
      "Ssl handshake failed", "TSI_PROTOCOL_FAILURE"),
     "the TLS handshake failed: does the server speak TLS there? (plaintext servers "
     "need no {ca})"),
)


def client_failure_hint(error: BaseException | str, tls: ClientTls | None) -> str | None:
    """One line saying which flag to fix for a TLS failure, or ``None`` if not one.

    Args:
        error: the exception (or a gRPC status detail string) the client got.
        tls: the client's TLS settings (``None``: it spoke plaintext).

    """
    text = str(error)
    flags = (tls or ClientTls()).flags
    if tls is None or not tls.enabled:
        if "CERTIFICATE_VERIFY_FAILED" in text:
            return (f"the server's certificate is not signed by a CA this host trusts: pass "
                    f"{flags['ca']} with the CA that signed it")
        if any(s in text for s in ("Socket closed", "Connection reset", "RemoteProtocolError",
                                   "Server disconnected", "illegal request line",
                                   "Connection aborted")):
            return (f"the server closed the connection: if it serves TLS, pass {flags['ca']} "
                    "(and a client certificate if it asks for one)")
        return None
    if any(s in text for s in ("Socket closed", "Connection reset", "EOF occurred",
                               "Server disconnected", "UNEXPECTED_EOF")):
        # TLS 1.3: the server checks the client certificate after the client's handshake
        # finished, so a refusal reaches the client as a closed connection.
        if tls.cert is None:
            return (f"the server closed the connection: it may require a client certificate "
                    f"(mutual TLS): pass {flags['cert']} and {flags['key']}")
        return (f"the server closed the connection: it may refuse the client certificate of "
                f"{flags['cert']} {tls.cert} (not signed by its client CA)")
    for needles, hint in _CLIENT_HINTS:
        if any(n in text for n in needles):
            return hint.format(ca=f"{flags['ca']} {tls.ca}" if tls.ca else flags["ca"],
                               cert=flags["cert"] if tls.cert is None
                               else f"{flags['cert']} {tls.cert}",
                               key=flags["key"])
    return None
