"""Throwaway certificates made at test time with ``cryptography``.

A CA, a server certificate for 127.0.0.1 / localhost signed by it, a client
certificate signed by it and one signed by a second, untrusted CA. Nothing here is
a secret: each test makes its own in its tmp_path. EC P-256 keys, as they are
quick to make.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Issued:
    """A certificate and its key on disk."""

    cert: Path
    key: Path
    serial: int


@dataclass(frozen=True)
class Authority:
    """A CA that can sign certificates."""

    cert: Path
    key: ec.EllipticCurvePrivateKey
    name: x509.Name


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def make_ca(directory: Path, name: str = "linkadapt test CA") -> Authority:
    """A self-signed CA written to ``directory/<name>.crt``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - _DAY).not_valid_after(now + 30 * _DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .sign(key, hashes.SHA256()))
    path = directory / f"{name.replace(' ', '-')}.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Authority(path, key, subject)


def issue(ca: Authority, directory: Path, stem: str, common_name: str, *,
          server: bool = False, dns: tuple[str, ...] = ()) -> Issued:
    """A leaf certificate signed by ``ca``: ``directory/<stem>.crt`` and ``.key``.

    ``server``: for 127.0.0.1 and localhost, with the serverAuth and clientAuth usages;
    else a client certificate (clientAuth). Both name ``common_name`` (and ``dns`` as SANs).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    serial = x509.random_serial_number()
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    if server:
        names += [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    # A server certificate may also serve as a client one (the health check presents
    # it under mutual TLS), as a cert-manager Certificate with both usages does.
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH] if server
              else [ExtendedKeyUsageOID.CLIENT_AUTH])
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
               .issuer_name(ca.name).public_key(key.public_key()).serial_number(serial)
               .not_valid_before(now - _DAY).not_valid_after(now + 30 * _DAY)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    issued = Issued(directory / f"{stem}.crt", directory / f"{stem}.key", serial)
    issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, issued.key)
    return issued


@dataclass(frozen=True)
class TestPki:
    """Everything the TLS tests need."""

    __test__ = False  # not a test class, whatever its name

    ca: Authority
    server: Issued
    client: Issued  # signed by ca, CN gnb-1
    rogue_ca: Authority
    rogue_client: Issued  # signed by rogue_ca, CN gnb-1
    directory: Path


def make_pki(directory: Path) -> TestPki:
    """A CA, a server and a client certificate it signed, and a client one it did not."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = make_ca(directory)
    rogue = make_ca(directory, "rogue CA")
    return TestPki(ca, issue(ca, directory, "server", "linkadapt", server=True),
                   issue(ca, directory, "client", "gnb-1", dns=("gnb-1.ran.example",)),
                   rogue, issue(rogue, directory, "rogue-client", "gnb-1"), directory)


def serial_of(pem: bytes) -> int:
    """The serial number of a PEM or DER certificate."""
    if pem.startswith(b"-----"):
        return int(x509.load_pem_x509_certificate(pem).serial_number)
    return int(x509.load_der_x509_certificate(pem).serial_number)


def served_serial(port: int, pki: TestPki, alpn: str | None = None) -> int:
    """The serial of the certificate a new TLS connection to 127.0.0.1:``port`` is shown.

    The client presents the CA-signed client certificate (for mutual TLS); ``alpn``
    "h2" for a gRPC port.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(pki.ca.cert)
    context.load_cert_chain(pki.client.cert, pki.client.key)
    if alpn:
        context.set_alpn_protocols([alpn])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return serial_of(der)


def replace_file(source: Path, target: Path) -> None:
    """Swap ``target`` for a copy of ``source`` in one rename, as a Secret volume update does."""
    staged = target.with_suffix(target.suffix + ".new")
    staged.write_bytes(source.read_bytes())
    os.replace(staged, target)
