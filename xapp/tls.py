"""TLS and mutual TLS for both servers and for the clients of the service.

Server side, one :class:`CertificateFiles` watches the certificate, key and client
CA that ``--tls-cert``, ``--tls-key`` and ``--tls-client-ca`` name, and both
servers take every change of those files without a restart (cert-manager rewrites
them in place, through the atomic symlink swap of a Secret volume):

- gRPC gets :func:`grpc_server_credentials`: dynamic credentials whose fetcher,
  which gRPC calls before every handshake, hands over the new files once they
  changed and loaded cleanly;
- REST gets :func:`rest_ssl_context`: an :class:`ssl.SSLContext` that reloads the
  chain into itself when a new connection arrives after a change, so new
  handshakes present the new certificate and open connections keep theirs.

A change that does not load (a rotation seen half-written: a new certificate
with the old key) keeps the last good files in service and is tried again at the
next handshake. TLS 1.2 is the minimum on every context built here (O-RAN WG11
security requirements ask for TLS 1.2 or newer on the interfaces of RIC components).

Client side, :class:`ClientTls` gives the emulator, ``linkadapt models`` and the
health check their gRPC credentials and :class:`ssl.SSLContext`, and
:func:`client_failure_hint` turns a handshake failure into one line naming the
flag to fix.
"""

from __future__ import annotations

import argparse
import logging
import os
import ssl
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import grpc

log = logging.getLogger(__name__)

MINIMUM_VERSION: Final = ssl.TLSVersion.TLSv1_2
"""O-RAN WG11 (Security Requirements Specifications) asks for TLS 1.2 or newer."""
SERVER_FLAGS: Final = {"cert": "--tls-cert", "key": "--tls-key", "client_ca": "--tls-client-ca"}
CLIENT_FLAGS: Final = {"ca": "--tls-ca", "cert": "--tls-cert", "key": "--tls-key"}

HandshakeCounter = Callable[[str, str], None]
"""Called with (transport, outcome) for each TLS handshake the servers see."""


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


def _read_cert(path: Path, flag: str) -> bytes:
    return _read(path, flag, b"-----BEGIN CERTIFICATE-----", "certificate")


def _read_key(path: Path, flag: str) -> bytes:
    return _read(path, flag, b"PRIVATE KEY-----", "private key")


def _load_chain(context: ssl.SSLContext, cert: Path, key: Path, flags: dict[str, str]) -> None:
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc) or exc.reason == "KEY_VALUES_MISMATCH":
            raise TlsError(f"{flags['key']} {key} is not the key of the certificate in "
                           f"{flags['cert']} {cert}") from None
        raise TlsError(f"{flags['cert']} {cert} / {flags['key']} {key}: cannot be loaded: "
                       f"{exc.reason or exc}") from None


def _load_ca(context: ssl.SSLContext, ca: Path, flag: str) -> None:
    _read_cert(ca, flag)
    try:
        context.load_verify_locations(cafile=str(ca))
    except ssl.SSLError as exc:
        raise TlsError(f"{flag} {ca}: not a usable CA certificate: {exc.reason or exc}") from None


@dataclass(frozen=True)
class ServerPems:
    """The PEM bytes of one consistent set of server files."""

    cert: bytes
    key: bytes
    client_ca: bytes | None


def load_server_files(cert: Path, key: Path, client_ca: Path | None) -> ServerPems:
    """Read and check the server's files: PEM, the key matches, the CA loads.

    Raises:
        TlsError: naming the flag of the bad file.

    """
    pems = ServerPems(_read_cert(cert, SERVER_FLAGS["cert"]), _read_key(key, SERVER_FLAGS["key"]),
                      None if client_ca is None else _read_cert(client_ca,
                                                                SERVER_FLAGS["client_ca"]))
    scratch = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _load_chain(scratch, cert, key, SERVER_FLAGS)
    if client_ca is not None:
        _load_ca(scratch, client_ca, SERVER_FLAGS["client_ca"])
    return pems


def _signature(paths: Iterable[Path]) -> tuple[tuple[int, int, int], ...]:
    """What tells a changed file: modification time, inode and size (symlinks followed)."""
    out = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append((0, 0, -1))
        else:
            out.append((st.st_mtime_ns, st.st_ino, st.st_size))
    return tuple(out)


@dataclass
class CertificateFiles:
    """The server's certificate, key and (for mutual TLS) client CA, re-read on change.

    :attr:`generation` counts the loaded versions; each consumer remembers the
    generation it applied and asks :meth:`refresh` before each handshake. Thread
    safe: gRPC calls its fetcher from its own threads.

    Raises:
        TlsError: (on creation) the files cannot be used, naming the flag.

    """

    cert: Path
    key: Path
    client_ca: Path | None = None
    pems: ServerPems = field(init=False)
    generation: int = field(init=False, default=1)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._seen = _signature(self._paths())
        self.pems = load_server_files(self.cert, self.key, self.client_ca)

    @property
    def mutual(self) -> bool:
        """True when clients must present a certificate signed by the client CA."""
        return self.client_ca is not None

    def _paths(self) -> list[Path]:
        return [p for p in (self.cert, self.key, self.client_ca) if p is not None]

    def refresh(self) -> int:
        """Load the files again if any changed since the last look; return the generation.

        A change that does not load is logged and left for the next look, the last
        good files staying in service.
        """
        signature = _signature(self._paths())
        if signature == self._seen:
            return self.generation
        with self._lock:
            if signature == self._seen:
                return self.generation
            try:
                pems = load_server_files(self.cert, self.key, self.client_ca)
            except TlsError as exc:
                log.warning("TLS files changed but cannot be loaded yet (%s); still serving "
                            "the previous certificate", exc)
                return self.generation
            self._seen = signature
            if pems != self.pems:
                self.pems = pems
                self.generation += 1
                log.info("TLS certificate reloaded from %s (version %d)", self.cert,
                         self.generation)
        return self.generation


def check_server_settings(settings: Any) -> None:
    """Refuse contradictory TLS settings (the files themselves are read at start-up).

    Raises:
        ValueError: naming the flags that do not go together.

    """
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise ValueError("--tls-cert and --tls-key (tls_cert, tls_key) go together")
    if settings.tls_cert is not None and settings.insecure:
        raise ValueError("--insecure (insecure) contradicts --tls-cert (tls_cert): "
                         "choose TLS or plaintext")
    if settings.tls_client_ca is not None and settings.tls_cert is None:
        raise ValueError("--tls-client-ca (tls_client_ca) needs --tls-cert and --tls-key")
    if settings.tls_client_names and settings.tls_client_ca is None:
        raise ValueError("--tls-client-names (tls_client_names) needs --tls-client-ca: "
                         "names are only known from verified client certificates")


def server_files(settings: Any) -> CertificateFiles | None:
    """The watched TLS files of ``settings``, or ``None`` when it serves plaintext.

    Raises:
        TlsError: a file cannot be used, naming its flag.

    """
    if settings.tls_cert is None:
        return None
    return CertificateFiles(settings.tls_cert, settings.tls_key, settings.tls_client_ca)


# -- gRPC ----------------------------------------------------------------------------------


def _grpc_config(pems: ServerPems) -> Any:
    return grpc.ssl_server_certificate_configuration(((pems.key, pems.cert),),
                                                     root_certificates=pems.client_ca)


def grpc_server_credentials(files: CertificateFiles,
                            on_handshake: HandshakeCounter | None = None) -> Any:
    """Server credentials that follow ``files``; mutual TLS when they have a client CA.

    gRPC calls the fetcher before each new connection's handshake: that is where a
    changed file is noticed, and the one point of a gRPC handshake Python sees
    (its outcome stays inside gRPC's C core, which offers no callback).
    """
    served = [files.generation]
    lock = threading.Lock()

    def fetch() -> Any:
        if on_handshake is not None:
            on_handshake("grpc", "started")
        generation = files.refresh()
        with lock:
            if generation == served[0]:
                return None
            served[0] = generation
        return _grpc_config(files.pems)

    return grpc.dynamic_ssl_server_credentials(
        _grpc_config(files.pems), fetch, require_client_authentication=files.mutual)


# -- REST (uvicorn) ------------------------------------------------------------------------


def handshake_outcome(error: ssl.SSLError) -> str:
    """A short, bounded label for why a server-side handshake failed."""
    reason = (error.reason or str(error)).upper()
    if "CERTIFICATE_REQUIRED" in reason or "PEER_DID_NOT_RETURN" in reason:
        return "no_client_certificate"
    if "CERTIFICATE_VERIFY_FAILED" in reason:
        return "untrusted_client_certificate"
    if "UNKNOWN_CA" in reason or "BAD_CERTIFICATE" in reason:
        return "client_refused_server_certificate"
    if "HTTP_REQUEST" in reason or "WRONG_VERSION" in reason or "RECORD" in reason:
        return "not_tls"
    if "VERSION" in reason or "PROTOCOL" in reason:
        return "protocol_version"
    return "other"


class _CountedSSLObject(ssl.SSLObject):
    """An SSL connection of the REST server that reports how its handshake ended."""

    def do_handshake(self) -> None:
        """Run the handshake step; count the handshake once it succeeded or failed."""
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except ssl.SSLError as exc:
            _report(self.context, "rest", handshake_outcome(exc))
            raise
        _report(self.context, "rest", "ok")


def _report(context: ssl.SSLContext, transport: str, outcome: str) -> None:
    counter = getattr(context, "on_handshake", None)
    if counter is not None:
        counter(transport, outcome)


class ReloadingContext(ssl.SSLContext):
    """A server context that reloads its chain from :class:`CertificateFiles` on change.

    asyncio wraps each accepted connection with :meth:`wrap_bio`: the check happens
    there, so a connection made after a rotation gets the new certificate. A new
    client CA is added to those trusted (OpenSSL cannot remove one from a live
    context): dropping a client CA takes a restart.
    """

    sslobject_class = _CountedSSLObject
    files: CertificateFiles
    applied: int
    on_handshake: HandshakeCounter | None

    def wrap_bio(self, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO,
                 server_side: bool = False, server_hostname: str | bytes | None = None,
                 session: ssl.SSLSession | None = None) -> ssl.SSLObject:
        """Reload the files if they changed, then wrap the connection."""
        generation = self.files.refresh()
        if generation != self.applied:
            try:
                self._apply()
                self.applied = generation
            except TlsError as exc:  # changed again between the check and the load
                log.warning("REST keeps its previous certificate: %s", exc)
        return super().wrap_bio(incoming, outgoing, server_side, server_hostname, session)

    def _apply(self) -> None:
        _load_chain(self, self.files.cert, self.files.key, SERVER_FLAGS)
        if self.files.client_ca is not None:
            _load_ca(self, self.files.client_ca, SERVER_FLAGS["client_ca"])


def rest_ssl_context(files: CertificateFiles,
                     on_handshake: HandshakeCounter | None = None) -> ReloadingContext:
    """The REST server's context: TLS 1.2+, client certificates required when mutual."""
    context = ReloadingContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MINIMUM_VERSION
    context.files, context.on_handshake = files, on_handshake
    context._apply()
    context.applied = files.generation
    if files.mutual:
        context.verify_mode = ssl.CERT_REQUIRED
    return context


# -- peer identity -------------------------------------------------------------------------


def peer_names(auth_context: dict[str, Sequence[bytes]]) -> set[str]:
    """The subject CN and SAN names of a gRPC peer's verified client certificate."""
    names: set[str] = set()
    for key in ("x509_common_name", "x509_subject_alternative_name"):
        names.update(value.decode(errors="replace") for value in auth_context.get(key, ()))
    return names


# -- clients -------------------------------------------------------------------------------


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
            _load_ca(context, self.ca, self.flags["ca"])
        if self.cert is not None and self.key is not None:
            _read_cert(self.cert, self.flags["cert"])
            _read_key(self.key, self.flags["key"])
            _load_chain(context, self.cert, self.key, self.flags)
        return context

    def grpc_credentials(self) -> Any:
        """``grpc.ssl_channel_credentials`` from these files.

        Raises:
            TlsError: a file is missing or unusable, naming its flag.

        """
        self.check()
        ca = None if self.ca is None else _read_cert(self.ca, self.flags["ca"])
        cert = None if self.cert is None else _read_cert(self.cert, self.flags["cert"])
        key = None if self.key is None else _read_key(self.key, self.flags["key"])
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
    _load_ca(context, cert, SERVER_FLAGS["cert"])
    if client is not None:
        _load_chain(context, client[0], client[1], SERVER_FLAGS)
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
