"""VietQR (NAPAS 247, EMVCo merchant-presented mode): build, parse, references.

Written by hand on purpose: the TLV + CRC is ~30 lines and the PyPI VietQR packages
(`vietnam-qr-pay`, `vietqr-generator`, `napas-qr-python`, ...) are not widely adopted
(see ../shared/domain/README.md §4.5). Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

NAPAS_GUID = "A000000727"
SERVICE_TO_ACCOUNT = "QRIBFTTA"
SERVICE_TO_CARD = "QRIBFTTC"
CURRENCY_VND = "704"
COUNTRY_VN = "VN"

# Crockford base32: no I, L, O, U, so a reference read aloud or retyped survives.
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERENCE_PREFIX = "PK"
REFERENCE_BODY_LEN = 8
_REF_TOKEN = re.compile(rf"(?=(PK[0-9A-Z]{{{REFERENCE_BODY_LEN}}}))")
# Crockford decoding aliases: what a human or an OCR'd statement may have typed instead.
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})


class VietQRError(ValueError):
    pass


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def tlv(tag: str, value: str) -> str:
    if len(tag) != 2 or not tag.isdigit():
        raise VietQRError(f"bad tag {tag!r}")
    if not value.isascii():
        raise VietQRError(f"tag {tag}: value must be ASCII")
    if not 0 < len(value) <= 99:
        raise VietQRError(f"tag {tag}: value length {len(value)} outside 1..99")
    return f"{tag}{len(value):02d}{value}"


def parse_tlv(data: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(data):
        if i + 4 > len(data):
            raise VietQRError(f"truncated TLV header at {i}")
        tag, length_s = data[i : i + 2], data[i + 2 : i + 4]
        if not (tag.isdigit() and length_s.isdigit()):
            raise VietQRError(f"non-numeric TLV header {data[i : i + 4]!r} at {i}")
        length = int(length_s)
        value = data[i + 4 : i + 4 + length]
        if len(value) != length:
            raise VietQRError(f"tag {tag}: value truncated")
        out.append((tag, value))
        i += 4 + length
    return out


def with_crc(body_without_crc: str) -> str:
    """Append tag 63: the CRC covers everything up to and including the literal "6304"."""
    head = body_without_crc + "6304"
    return head + f"{crc16_ccitt_false(head.encode('ascii')):04X}"


def crc_ok(payload: str) -> bool:
    if len(payload) < 8 or payload[-8:-4] != "6304":
        return False
    return with_crc(payload[:-8]) == payload


@dataclass(frozen=True, slots=True)
class VietQR:
    bank_bin: str
    account: str
    service: str = SERVICE_TO_ACCOUNT
    amount_vnd: int | None = None  # None → static (reusable) QR
    reference: str | None = None  # 62.08 purpose of transaction
    bill_number: str | None = None  # 62.01

    @property
    def dynamic(self) -> bool:
        return self.amount_vnd is not None


def encode(qr: VietQR) -> str:
    if not (len(qr.bank_bin) == 6 and qr.bank_bin.isdigit()):
        raise VietQRError("bank BIN must be 6 digits")
    if not 0 < len(qr.account) <= 19:
        raise VietQRError("account must be 1..19 characters")
    if qr.amount_vnd is not None and not 0 < qr.amount_vnd < 10**13:
        raise VietQRError("amount must be a positive integer VND of at most 13 digits")
    beneficiary = tlv("00", qr.bank_bin) + tlv("01", qr.account)
    merchant = tlv("00", NAPAS_GUID) + tlv("01", beneficiary) + tlv("02", qr.service)
    parts = [tlv("00", "01"), tlv("01", "12" if qr.dynamic else "11"), tlv("38", merchant)]
    parts.append(tlv("53", CURRENCY_VND))
    if qr.amount_vnd is not None:
        parts.append(tlv("54", str(qr.amount_vnd)))
    parts.append(tlv("58", COUNTRY_VN))
    additional = ""
    if qr.bill_number:
        additional += tlv("01", qr.bill_number)
    if qr.reference:
        if len(qr.reference) > 25:
            raise VietQRError("reference must be at most 25 characters")
        additional += tlv("08", qr.reference)
    if additional:
        parts.append(tlv("62", additional))
    return with_crc("".join(parts))


def decode(payload: str) -> VietQR:
    """Parse and validate a VietQR payload; raises VietQRError on a bad CRC or layout."""
    if not crc_ok(payload):
        raise VietQRError("CRC mismatch or missing tag 63")
    root = dict(parse_tlv(payload[:-8]))
    if root.get("00") != "01":
        raise VietQRError("payload format indicator must be 01")
    merchant = dict(parse_tlv(root.get("38", "")))
    if merchant.get("00") != NAPAS_GUID:
        raise VietQRError("tag 38 is not a NAPAS VietQR template")
    beneficiary = dict(parse_tlv(merchant.get("01", "")))
    if root.get("53", CURRENCY_VND) != CURRENCY_VND:
        raise VietQRError("currency is not VND")
    additional = dict(parse_tlv(root["62"])) if "62" in root else {}
    amount = root.get("54")
    if amount is not None and not amount.isdigit():
        raise VietQRError("VietQR amounts are integer VND")
    return VietQR(
        bank_bin=beneficiary.get("00", ""),
        account=beneficiary.get("01", ""),
        service=merchant.get("02", ""),
        amount_vnd=int(amount) if amount is not None else None,
        reference=additional.get("08"),
        bill_number=additional.get("01"),
    )


def new_reference() -> str:
    """A unique-enough short reference: "PK" + 8 Crockford chars = 40 random bits.

    Uniqueness is enforced by a unique index in the DB; the caller retries on conflict.
    """
    return REFERENCE_PREFIX + "".join(secrets.choice(CROCKFORD) for _ in range(REFERENCE_BODY_LEN))


def is_reference(value: str) -> bool:
    return (
        len(value) == len(REFERENCE_PREFIX) + REFERENCE_BODY_LEN
        and value.startswith(REFERENCE_PREFIX)
        and all(c in CROCKFORD for c in value[len(REFERENCE_PREFIX) :])
    )


def find_references(content: str) -> list[str]:
    """Every reference-shaped token inside bank-mangled transfer content, in order.

    Banks upper-case the content, strip spaces and punctuation, and prepend their own
    prefixes ("MBVCB.4525077405.PK7F3K9Q2M CT tu ..."), so we normalise to [A-Z0-9] and
    scan with overlapping matches; the caller keeps the candidate that exists in the DB.
    """
    flat = re.sub(r"[^A-Z0-9]", "", content.upper())
    seen: list[str] = []
    for m in _REF_TOKEN.finditer(flat):
        token = REFERENCE_PREFIX + m.group(1)[len(REFERENCE_PREFIX) :].translate(_ALIASES)
        if is_reference(token) and token not in seen:
            seen.append(token)
    return seen
