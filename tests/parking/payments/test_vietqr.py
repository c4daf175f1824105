"""VietQR encode/decode against NAPAS vectors, plus property tests (pure module)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parking.payments import vietqr
from parking.payments.vietqr import VietQR, VietQRError

# ../shared/domain/README.md §4.3-4.4 and the NAPAS "QR_Format_T&C" examples. The NAPAS static
# account vector (F4E5) has a length typo inside tag 38 in the spec itself, so only its CRC is checked.
NAPAS_STATIC_ACCOUNT = "00020101021138570010A00000072701270006970403011200110123456780208QRIBFTTA53037045802VN6304F4E5"
NAPAS_STATIC_CARD = "00020101021138600010A00000072701300006970403011697040311012345670208QRIBFTTC53037045802VN63044F52"
NAPAS_DYNAMIC = (
    "00020101021238570010A00000072701270006970403011300110123456780208QRIBFTTA"
    "530370454061800005802VN62340107NPS68690819thanh toan don hang63042E2E"
)
DOMAIN_25K = (
    "00020101021238570010A00000072701270006970436011300110012345670208QRIBFTTA"
    "53037045405250005802VN62150811PK 7F3K9Q2M6304BD06"
)
DOMAIN_STATIC = "00020101021138570010A00000072701270006970436011300110012345670208QRIBFTTA53037045802VN6304E8DB"


def test_crc_check_value() -> None:
    assert vietqr.crc16_ccitt_false(b"123456789") == 0x29B1


@pytest.mark.parametrize(
    ("payload", "crc"),
    [
        (NAPAS_STATIC_ACCOUNT, "F4E5"),
        (NAPAS_STATIC_CARD, "4F52"),
        (NAPAS_DYNAMIC, "2E2E"),
        (DOMAIN_25K, "BD06"),
        (DOMAIN_STATIC, "E8DB"),
    ],
)
def test_napas_vectors_crc(payload: str, crc: str) -> None:
    assert payload[-4:] == crc
    assert vietqr.crc_ok(payload)
    assert vietqr.with_crc(payload[:-8]) == payload


def test_encode_domain_25k_example_exactly() -> None:
    qr = VietQR(bank_bin="970436", account="0011001234567", amount_vnd=25_000, reference="PK 7F3K9Q2M")
    assert vietqr.encode(qr) == DOMAIN_25K
    assert vietqr.decode(DOMAIN_25K) == qr


def test_encode_napas_dynamic_and_card_exactly() -> None:
    dyn = VietQR(
        bank_bin="970403",
        account="0011012345678",
        amount_vnd=180_000,
        reference="thanh toan don hang",
        bill_number="NPS6869",
    )
    assert vietqr.encode(dyn) == NAPAS_DYNAMIC
    assert vietqr.decode(NAPAS_DYNAMIC) == dyn
    card = VietQR(bank_bin="970403", account="9704031101234567", service=vietqr.SERVICE_TO_CARD)
    assert vietqr.encode(card) == NAPAS_STATIC_CARD
    assert vietqr.decode(NAPAS_STATIC_CARD) == card
    static = vietqr.decode(DOMAIN_STATIC)
    assert static.amount_vnd is None and not static.dynamic and static.account == "0011001234567"


def test_decode_rejects_corruption() -> None:
    with pytest.raises(VietQRError):
        vietqr.decode(DOMAIN_25K.replace("25000", "26000"))
    with pytest.raises(VietQRError):
        vietqr.decode(DOMAIN_25K[:-1] + ("0" if DOMAIN_25K[-1] != "0" else "1"))
    with pytest.raises(VietQRError):
        vietqr.encode(VietQR(bank_bin="970436", account="1", amount_vnd=1, reference="X" * 26))


ascii_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=25)


@given(
    bank_bin=st.from_regex(r"\A97[0-9]{4}\Z"),
    account=st.from_regex(r"\A[0-9]{6,19}\Z"),
    amount=st.one_of(st.none(), st.integers(min_value=1, max_value=10**13 - 1)),
    reference=st.one_of(st.none(), ascii_text),
    service=st.sampled_from([vietqr.SERVICE_TO_ACCOUNT, vietqr.SERVICE_TO_CARD]),
)
def test_round_trip(bank_bin: str, account: str, amount: int | None, reference: str | None, service: str) -> None:
    qr = VietQR(bank_bin=bank_bin, account=account, service=service, amount_vnd=amount, reference=reference)
    payload = vietqr.encode(qr)
    assert payload.isascii()
    assert vietqr.crc_ok(payload)
    assert vietqr.decode(payload) == qr
    assert dict(vietqr.parse_tlv(payload))["01"] == ("12" if amount is not None else "11")


@given(pos=st.integers(min_value=0, max_value=len(DOMAIN_25K) - 5), ch=st.sampled_from("0123456789ABCDEF"))
def test_single_char_change_detected(pos: int, ch: str) -> None:
    changed = DOMAIN_25K[:pos] + ch + DOMAIN_25K[pos + 1 :]
    if changed != DOMAIN_25K:
        assert not vietqr.crc_ok(changed)


def test_reference_shape() -> None:
    refs = {vietqr.new_reference() for _ in range(500)}
    assert len(refs) == 500
    for r in refs:
        assert vietqr.is_reference(r) and r.isascii() and r.isupper() and len(r) <= 25


references = st.builds(lambda body: "PK" + body, st.text(alphabet=vietqr.CROCKFORD, min_size=8, max_size=8))
noise = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


def mangle(reference: str, prefix: str, suffix: str, sep: str, lower: bool) -> str:
    # What banks do: prepend their own prefix, insert separators, change case.
    body = sep.join(reference) if sep else reference
    text = f"{prefix}{body} {suffix}"
    return text.lower() if lower else text


@given(
    ref=references,
    prefix=noise,
    suffix=noise,
    sep=st.sampled_from(["", " ", ".", "-", "_"]),
    lower=st.booleans(),
)
def test_finder_recovers_reference_from_mangled_content(
    ref: str, prefix: str, suffix: str, sep: str, lower: bool
) -> None:
    assert ref in vietqr.find_references(mangle(ref, prefix, suffix, sep, lower))


@given(ref=references)
def test_finder_on_bank_like_content(ref: str) -> None:
    content = f"MBVCB.4525077405.9P0019630833.{ref[:2]} {ref[2:]} CT tu 0351000646393 NGUYEN THE HUNG toi"
    assert ref in vietqr.find_references(content)


@given(text=st.text(alphabet="ABCDEFGHIJ0123456789 .-", max_size=60))
def test_finder_finds_nothing_without_prefix(text: str) -> None:
    # No "P" in the alphabet → no "PK" token → no candidates.
    assert vietqr.find_references(text) == []


def test_finder_crockford_aliases() -> None:
    assert vietqr.find_references("ck pk7f3k9q2o") == ["PK7F3K9Q20"]
