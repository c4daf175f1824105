"""XML Signatures with the operator's certificate (signxml): the invoice and its transmission envelope.

The seller signs the invoice itself where the e-invoice format puts it: ``HDon/DSCKS/NBan`` holds an
enveloped RSA-SHA256 signature whose one reference is ``#DLHDon`` (the invoice data). Decision 1271 also
asks the sender to sign ``TDiep/DLieu`` for a cash-register invoice message; that signature sits in
``TDiep/CKSNNT`` and references ``#DLieu``. Both carry the certificate in ``KeyInfo/X509Data``.
Known gap: the decision also wants ``SigningTime`` under ``Signature/Object``; signxml only emits
SignatureProperties for detached signatures, so we do not add it (docs/invoices.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml import SignatureConfiguration, XMLSigner, XMLVerifier
from signxml.exceptions import InvalidInput, InvalidSignature

from parking.invoices.xml import DLHDON_ID, DLIEU_ID, DS_NS, with_seller_signature_placeholder


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


def sign_hdon(hdon: etree._Element, creds: Credentials) -> etree._Element:
    """Return a copy of the invoice with the seller's signature over ``DLHDon`` in ``DSCKS/NBan``."""
    key = serialization.load_pem_private_key(creds.key_pem, password=None)
    signed: etree._Element = XMLSigner().sign(
        with_seller_signature_placeholder(hdon),
        key=key,  # type: ignore[arg-type]
        cert=[creds.certificate],
        reference_uri=f"#{DLHDON_ID}",
    )
    return signed


def _verify(el: etree._Element, cert_pem: bytes, location: str, expected_tag: str) -> etree._Element:
    try:
        result = XMLVerifier().verify(
            el,
            x509_cert=cert_pem.decode(),
            expect_references=1,
            expect_config=SignatureConfiguration(location=location),
        )
    except (InvalidSignature, InvalidInput) as e:
        raise SignatureError(str(e)) from e
    signed = result.signed_xml if not isinstance(result, list) else result[0].signed_xml
    if signed is None or signed.tag != expected_tag:
        raise SignatureError(f"signature does not cover {expected_tag}")
    return signed


def verify_tdiep(tdiep: etree._Element, cert_pem: bytes) -> etree._Element:
    """Check the envelope's signature (``CKSNNT``) against the expected certificate; return the signed ``DLieu``.

    Only what the signature covers is returned, so callers never read unsigned content.
    """
    return _verify(tdiep, cert_pem, "./CKSNNT/", "DLieu")


def verify_hdon(hdon: etree._Element, cert_pem: bytes) -> etree._Element:
    """Check the seller's signature inside the invoice (``DSCKS/NBan``); return the signed ``DLHDon``."""
    # Verified on a copy of its own, as the invoice would be read once taken out of the envelope.
    standalone = etree.fromstring(etree.tostring(hdon))
    if standalone.find(f"DSCKS/NBan/{{{DS_NS}}}Signature") is None:
        raise SignatureError("the invoice carries no seller signature (HDon/DSCKS/NBan)")
    return _verify(standalone, cert_pem, "./DSCKS/NBan/", "DLHDon")
