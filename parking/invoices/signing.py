"""XML Signature of the ``TDiep`` envelope with the operator's certificate (signxml).

Decision 1271 asks the seller to sign ``TDiep/DLieu`` for a cash-register invoice message; the
signature sits in ``TDiep/CKSNNT``. We sign with an enveloped RSA-SHA256 signature whose one reference
points at ``#DLieu`` (the Id set by xml.build_tdiep), carrying the certificate in ``KeyInfo/X509Data``.
Known gap: the decision also wants ``SigningTime`` under ``Signature/Object``; signxml only emits
SignatureProperties for detached signatures, so we do not add it (docs/invoices.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml import XMLSigner, XMLVerifier
from signxml.exceptions import InvalidInput, InvalidSignature

from parking.invoices.xml import DLIEU_ID


@dataclass(frozen=True)
class Credentials:
    key_pem: bytes
    cert_pem: bytes

    @classmethod
    def from_files(cls, key_path: Path, cert_path: Path) -> Credentials:
        return cls(key_pem=key_path.read_bytes(), cert_pem=cert_path.read_bytes())

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


class SignatureError(Exception):
    pass


def sign_tdiep(tdiep: etree._Element, creds: Credentials) -> etree._Element:
    """Return a signed copy of the envelope (the input keeps its placeholder)."""
    key = serialization.load_pem_private_key(creds.key_pem, password=None)
    signer = XMLSigner()  # enveloped, RSA-SHA256, SHA-256 digests, C14N 1.1 (signxml defaults)
    signed: etree._Element = signer.sign(
        tdiep,
        key=key,  # type: ignore[arg-type]
        cert=[creds.certificate],
        reference_uri=f"#{DLIEU_ID}",
    )
    return signed


def verify_tdiep(tdiep: etree._Element, cert_pem: bytes) -> etree._Element:
    """Check the signature against the expected certificate; return the signed ``DLieu`` element.

    Only what the signature covers is returned, so callers never read unsigned content.
    """
    try:
        result = XMLVerifier().verify(tdiep, x509_cert=cert_pem.decode(), expect_references=1)
    except (InvalidSignature, InvalidInput) as e:
        raise SignatureError(str(e)) from e
    signed = result.signed_xml if not isinstance(result, list) else result[0].signed_xml
    if signed is None or signed.tag != "DLieu":
        raise SignatureError("signature does not cover TDiep/DLieu")
    return signed
