"""Server-side TLS and mutual TLS for both servers, with certificate reloading.

One :class:`CertificateFiles` watches the certificate, key and client CA that
``--tls-cert``, ``--tls-key`` and ``--tls-client-ca`` name, and both servers take
every change of those files without a restart (cert-manager rewrites them in
place, through the atomic symlink swap of a Secret volume):

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

The client side (:class:`~xapp.tls_client.ClientTls`, the clients' flags and
one-line hints) lives in :mod:`xapp.tls_client`; the PEM checks both sides share
in :mod:`xapp.tls_pem`.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from xapp.tls_pem import (
    MINIMUM_VERSION,
    SERVER_FLAGS,
    TlsError,
    load_ca,
    load_chain,
    read_cert,
    read_key,
)

log = logging.getLogger(__name__)

HandshakeCounter = Callable[[str, str], None]
"""Called with (transport, outcome) for each TLS handshake the servers see."""


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
    pems = ServerPems(read_cert(cert, SERVER_FLAGS["cert"]), read_key(key, SERVER_FLAGS["key"]),
                      None if client_ca is None else read_cert(client_ca,
                                                                SERVER_FLAGS["client_ca"]))
    scratch = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    load_chain(scratch, cert, key, SERVER_FLAGS)
    if client_ca is not None:
        load_ca(scratch, client_ca, SERVER_FLAGS["client_ca"])
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
        self._refused = self._seen  # the files as last found unloadable (none yet)
        self.pems = load_server_files(self.cert, self.key, self.client_ca)

    @property
    def mutual(self) -> bool:
        """True when clients must present a certificate signed by the client CA."""
        return self.client_ca is not None

    def _paths(self) -> list[Path]:
        return [p for p in (self.cert, self.key, self.client_ca) if p is not None]

    def refresh(self) -> int:
        """Load the files again if any changed since the last look; return the generation.

        A change that does not load is logged once and tried again when the files
        change again, the last good files staying in service.
        """
        signature = _signature(self._paths())
        # Files that did not load are not read again, nor logged again, until they
        # change: a handshake must not pay for it, nor flood the log.
        if signature == self._seen or signature == self._refused:
            return self.generation
        with self._lock:
            if signature == self._seen or signature == self._refused:
                return self.generation
            try:
                pems = load_server_files(self.cert, self.key, self.client_ca)
            except TlsError as exc:
                self._refused = signature
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
        load_chain(self, self.files.cert, self.files.key, SERVER_FLAGS)
        if self.files.client_ca is not None:
            load_ca(self, self.files.client_ca, SERVER_FLAGS["client_ca"])


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
