"""Operator signing credentials: load from the certificate directory, or mint a self-signed pair.

Self-signed certificates are for the demo and the tests only; production uses the operator's
certificate from a licensed CA, placed in ``PARKING_INVOICE_CERT_DIR``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from parking.invoices.signing import Credentials


def paths(cert_dir: Path, operator_code: str) -> tuple[Path, Path]:
    return cert_dir / f"{operator_code}.crt.pem", cert_dir / f"{operator_code}.key.pem"


class CertificateMissing(LookupError):
    """The operator's signing certificate (or its key) is not installed yet: invoices wait for it."""


def load(cert_dir: Path, operator_code: str) -> Credentials:
    cert, key = paths(cert_dir, operator_code)
    if not (cert.is_file() and key.is_file()):
        raise CertificateMissing(f"no signing certificate for operator {operator_code} in {cert_dir}")
    return Credentials.from_files(key, cert)


def self_signed(common_name: str, tax_code: str, days: int = 365) -> Credentials:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.USER_ID, f"MST:{tax_code}"),  # Vietnamese CAs put the MST in UID
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        ]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Credentials(
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
    )


def ensure_demo_credentials(cert_dir: Path, operator_code: str, name: str, tax_code: str) -> Credentials:
    """Load the operator's pair, minting a self-signed one on first use (demo only)."""
    cert, key = paths(cert_dir, operator_code)
    if not (cert.exists() and key.exists()):
        cert_dir.mkdir(parents=True, exist_ok=True)
        creds = self_signed(name, tax_code)
        key.write_bytes(creds.key_pem)
        key.chmod(0o600)
        cert.write_bytes(creds.cert_pem)
    return load(cert_dir, operator_code)
