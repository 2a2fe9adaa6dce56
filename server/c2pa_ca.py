"""A development certificate authority and signing certificate for C2PA content credentials.

``gesso c2pa-init`` writes, into a directory of its own (keys readable by the owner only):

- ``ca.pem`` / ``ca.key``: a self-signed CA (P-256, path length 0, keyCertSign);
- ``signer.pem`` / ``signer.key``: a P-256 leaf it issues for ES256 signing, with what C2PA
  validators require of a signing certificate: not a CA, digitalSignature key usage, the
  emailProtection extended key usage, subject and authority key identifiers.

C2PA readers trust a signature only if they trust its CA: these certificates prove the mechanism
works, not who signed. In production use a leaf issued by a CA on the C2PA trust list.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 5 * 365
SIGNER_DAYS = 365


@dataclass(frozen=True, slots=True)
class CertificatePaths:
    ca_certificate: Path
    ca_key: Path
    certificate: Path
    key: Path


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )


def _usage(*, sign: bool, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def make_development_ca(
    organization: str = "Gesso development",
    *,
    now: datetime.datetime | None = None,
) -> tuple[bytes, bytes, bytes, bytes]:
    """PEM bytes of (CA certificate, CA key, signing certificate, signing key)."""
    now = now or datetime.datetime.now(datetime.UTC)
    start = now - datetime.timedelta(minutes=5)  # clocks of readers may lag a little
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{organization} C2PA CA", organization)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(sign=False, cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{organization} content credentials", organization))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + datetime.timedelta(days=SIGNER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(sign=True, cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return _cert_pem(ca), _key_pem(ca_key), _cert_pem(leaf), _key_pem(key)


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_development_ca(directory: Path, *, force: bool = False) -> CertificatePaths:
    """Write a new CA and signing certificate into ``directory``; refuses to overwrite existing
    files unless ``force`` (``FileExistsError`` names the first one)."""
    paths = CertificatePaths(
        directory / "ca.pem",
        directory / "ca.key",
        directory / "signer.pem",
        directory / "signer.key",
    )
    files = (paths.ca_certificate, paths.ca_key, paths.certificate, paths.key)
    if not force:
        for path in files:
            if path.exists():
                raise FileExistsError(f"{path} exists; pass --force to replace it")
    directory.mkdir(parents=True, exist_ok=True)
    for path, content in zip(files, make_development_ca(), strict=True):
        private = path.suffix == ".key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
    return paths
