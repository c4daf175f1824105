"""Pure invoice modules: codes, VAT split, words, XML against our XSD, signature."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from parking.invoices import codes, signing
from parking.invoices import xml as X
from parking.invoices.vat import split_inclusive
from parking.invoices.words import vnd_in_words

SERIES = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=5, max_size=5)
LETTERS = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2)
YEARS = st.integers(2000, 2099)
SEQS = st.integers(1, codes.MAX_SEQ)


# --- codes -------------------------------------------------------------------------------------------


def test_symbol_and_mccqt_examples() -> None:
    assert codes.printed_symbol(1, 2026, "AA") == "1C26MAA"
    assert codes.invoice_symbol(2026, "AA") == "C26MAA"
    assert codes.format_mccqt(1, 2026, "A1B2C", 1234567) == "M1-26-A1B2C-00001234567"
    # the decision's own example
    m = codes.parse_mccqt("M2-25-A1B2C-00001234567")
    assert (m.invoice_type, m.year, m.series_code, m.seq) == (2, 2025, "A1B2C", 1234567)
    assert codes.parse_printed_symbol("1C26MAA") == (1, 2026, "AA")


@given(t=st.integers(1, 9), year=YEARS, series=SERIES, seq=SEQS)
def test_mccqt_round_trip_is_23_chars(t: int, year: int, series: str, seq: int) -> None:
    code = codes.format_mccqt(t, year, series, seq)
    assert len(code) == codes.MCCQT_LEN
    assert codes.parse_mccqt(code) == codes.Mccqt(t, year, series, seq)
    assert str(codes.parse_mccqt(code)) == code


@given(a=SEQS, b=SEQS, series=SERIES)
def test_mccqt_order_follows_sequence(a: int, b: int, series: str) -> None:
    # zero padding makes string order equal numeric order within a series (used for gap checks)
    ca, cb = codes.format_mccqt(1, 2026, series, a), codes.format_mccqt(1, 2026, series, b)
    assert (ca < cb) == (a < b)


@pytest.mark.parametrize(
    "bad",
    [
        "M1-26-A1B2C-0000123456",
        "M1-26-a1b2c-00001234567",
        "K1-26-A1B2C-00001234567",
        "M1-26-A1B2C-00000000000",
        "M1-2026-A1B2-00001234567",
        "",
    ],
)
def test_bad_mccqt_refused(bad: str) -> None:
    assert not codes.is_mccqt(bad)
    with pytest.raises(codes.InvalidCode):
        codes.parse_mccqt(bad)


def test_bad_inputs_refused() -> None:
    with pytest.raises(codes.InvalidCode):
        codes.format_mccqt(1, 2026, "A1B2", 1)
    with pytest.raises(codes.InvalidCode):
        codes.format_mccqt(1, 2026, "A1B2C", codes.MAX_SEQ + 1)
    with pytest.raises(codes.InvalidCode):
        codes.invoice_symbol(2026, "A1")
    with pytest.raises(codes.InvalidCode):
        codes.invoice_symbol(1999, "AA")


# --- VAT -----------------------------------------------------------------------------------------------


@given(total=st.integers(-(10**12), 10**12), rate=st.integers(0, 10_000))
def test_vat_split_adds_up_and_rounds_half_up(total: int, rate: int) -> None:
    s = split_inclusive(total, rate)
    assert s.net_vnd + s.vat_vnd == total
    exact = Fraction(abs(total) * 10_000, 10_000 + rate)
    # |net| is the exact quotient rounded half up
    assert abs(abs(s.net_vnd) - exact) <= Fraction(1, 2)
    if abs(abs(s.net_vnd) - exact) == Fraction(1, 2):
        assert abs(s.net_vnd) > exact
    # a refund is the mirror of the charge
    neg = split_inclusive(-total, rate)
    assert (neg.net_vnd, neg.vat_vnd) == (-s.net_vnd, -s.vat_vnd)


def test_vat_examples() -> None:
    assert (split_inclusive(25_000, 800).net_vnd, split_inclusive(25_000, 800).vat_vnd) == (23_148, 1_852)
    assert (split_inclusive(5_000, 1000).net_vnd, split_inclusive(5_000, 1000).vat_vnd) == (4_545, 455)
    assert split_inclusive(1, 800).rate_label == "8%"
    with pytest.raises(TypeError):
        split_inclusive(25_000.0, 800)  # type: ignore[arg-type]


@given(net=st.integers(0, 10**10), rate=st.integers(0, 10_000))
def test_vat_exclusive_tariff_round_trips(net: int, rate: int) -> None:
    # a VAT-exclusive tariff adds round_half_up(net * rate); splitting that total recovers net exactly
    from parking.pricing.vat import vat_on_net

    assert split_inclusive(net + vat_on_net(net, rate), rate).net_vnd == net


# --- words ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "Không đồng"),
        (15, "Mười lăm đồng"),
        (21, "Hai mươi mốt đồng"),
        (25_000, "Hai mươi lăm nghìn đồng"),
        (105_000, "Một trăm linh năm nghìn đồng"),
        (1_005_000, "Một triệu không trăm linh năm nghìn đồng"),
        (-30_000, "Âm ba mươi nghìn đồng"),
    ],
)
def test_words(n: int, text: str) -> None:
    assert vnd_in_words(n) == text


# --- XML ----------------------------------------------------------------------------------------------


def doc_for(
    total: int,
    rate: int = 800,
    buyer: X.Buyer | None = None,
    related: X.Related | None = None,
    seq: int = 1,
    when: datetime | None = None,
) -> X.InvoiceDoc:
    when = when or datetime(2026, 11, 22, 17, 30, tzinfo=UTC)  # 00:30 on the 23rd in Hanoi
    return X.InvoiceDoc(
        template=1,
        symbol="C26MAA",
        number=seq,
        issued_at=when,
        mccqt=codes.format_mccqt(1, 2026, "A1B2C", seq),
        seller=X.Party("Công ty CP Trông giữ xe Hà Nội", "0101234567", "1 Lý Thái Tổ, Hoàn Kiếm, Hà Nội"),
        lines=[
            X.Line(
                "Dịch vụ trông giữ xe",
                "lượt",
                total,
                rate,
                {"BaiXe": "Lý Thái Tổ", "BienSo": "30A12345", "TGVao": "2026-11-22T22:00:00"},
            )
        ],
        buyer=buyer,
        related=related,
    )


def test_hdon_content_and_gmt7_dates() -> None:
    h = X.build_hdon(doc_for(25_000, buyer=X.Buyer(name="Công ty ABC", tax_code="0312345678")))
    X.validate(h)
    assert h.findtext("DLHDon/TTChung/NLap") == "2026-11-23"  # GMT+7 date, not the UTC one
    assert h.findtext("DLHDon/TTChung/KHHDon") == "C26MAA"
    assert h.findtext("DLHDon/NDHDon/NMua/MST") == "0312345678"
    assert h.findtext("DLHDon/NDHDon/TToan/TgTCThue") == "23148"
    assert h.findtext("DLHDon/NDHDon/TToan/TgTThue") == "1852"
    assert h.findtext("DLHDon/NDHDon/TToan/TgTTTBSo") == "25000"
    assert h.findtext("DLHDon/NDHDon/DSHHDVu/HHDVu/TSuat") == "8%"
    assert h.findtext("MCCQT") == "M1-26-A1B2C-00000000001"
    assert "Hóa đơn" in X.to_bytes(h).decode("utf-8")
    v = X.read_view(h)
    assert (v.net_vnd, v.vat_vnd, v.total_vnd, v.printed_symbol) == (23_148, 1_852, 25_000, "1C26MAA")
    assert v.buyer == {"Ten": "Công ty ABC", "MST": "0312345678"}


def test_naive_datetime_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        X.build_hdon(doc_for(25_000, when=datetime(2026, 11, 22, 8, 0)))


@settings(max_examples=60, deadline=None)
@given(
    total=st.integers(0, 10**9),
    rate=st.sampled_from([0, 500, 800, 1000]),
    seq=st.integers(1, 99_999_999),
    minutes=st.integers(0, 60 * 24 * 365),
)
def test_any_invoice_is_valid_and_adds_up(total: int, rate: int, seq: int, minutes: int) -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    h = X.build_hdon(doc_for(total, rate, seq=seq, when=when))
    X.validate(h)
    s = X.summarize(h)
    assert s.net_vnd + s.vat_vnd == s.total_vnd == total


def test_adjustment_links_original_and_is_valid() -> None:
    rel = X.Related(1, "C26MAA", 7, datetime(2026, 11, 22).date(), "Hoàn tiền một phần")
    h = X.build_hdon(doc_for(-10_000, related=rel, seq=8))
    X.validate(h)
    assert h.findtext("DLHDon/TTChung/TTHDLQuan/SHDCLQuan") == "7"
    assert h.findtext("DLHDon/TTChung/TTHDLQuan/TCHDon") == "2"
    assert int(h.findtext("DLHDon/NDHDon/TToan/TgTTTBSo") or 0) == -10_000


def test_schema_catches_a_broken_invoice() -> None:
    h = X.build_hdon(doc_for(25_000))
    mccqt = h.find("MCCQT")
    assert mccqt is not None
    mccqt.text = "M1-26-A1B2C-123"
    with pytest.raises(etree.DocumentInvalid):
        X.validate(h)


def test_mtdiep_format() -> None:
    m = X.new_mtdiep("V0107001729001")
    assert m.startswith("V0107001729001") and len(m) == 14 + 32
    assert m[14:] == m[14:].upper() and int(m[14:], 16) >= 0
    assert X.new_mtdiep("V0107001729001") != m


# --- signature ----------------------------------------------------------------------------------------


def test_signed_envelope_verifies_and_validates(operator_creds: signing.Credentials) -> None:
    creds = operator_creds
    env = X.build_tdiep(X.build_hdon(doc_for(25_000)), mngui="V0107001729001", mst="0101234567")
    signed = signing.sign_tdiep(env, creds)
    X.validate(signed)
    wire = X.to_bytes(signed)
    dlieu = signing.verify_tdiep(X.from_bytes(wire), creds.cert_pem)
    assert X.summarize(dlieu[0]).total_vnd == 25_000


def test_tampered_or_foreign_signature_refused(
    operator_creds: signing.Credentials, make_creds: Callable[[], signing.Credentials]
) -> None:
    creds = operator_creds
    env = X.build_tdiep(X.build_hdon(doc_for(25_000)), mngui="V0107001729001", mst="0101234567")
    wire = X.to_bytes(signing.sign_tdiep(env, creds))
    with pytest.raises(signing.SignatureError):
        signing.verify_tdiep(X.from_bytes(wire.replace(b">25000<", b">15000<")), creds.cert_pem)
    with pytest.raises(signing.SignatureError):
        signing.verify_tdiep(X.from_bytes(wire), make_creds().cert_pem)


# --- rendering ----------------------------------------------------------------------------------------


def test_html_escapes_what_the_buyer_typed() -> None:
    from parking.invoices import render

    h = X.build_hdon(doc_for(25_000, buyer=X.Buyer(name="<script>alert(1)</script> & Co")))
    page = render.render_html(X.read_view(h), "http://x/r/C?k=K", "accepted", "/r/C.pdf?k=K")
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "Cơ quan thuế đã tiếp nhận" in page


def test_pdf_falls_back_to_unaccented_text_without_a_unicode_font(monkeypatch: pytest.MonkeyPatch) -> None:
    from parking.invoices import render

    monkeypatch.setattr(render, "find_font", lambda: None)
    pdf = render.render_pdf(X.read_view(X.build_hdon(doc_for(25_000))), "http://x/r/C?k=K", "issued")
    assert pdf.startswith(b"%PDF") and b"/FontFile2" not in pdf
    assert render._ascii("Hóa đơn điện tử ₫") == "Hoa don dien tu VND"


def test_page_refreshes_only_until_the_answer_is_in() -> None:
    from parking.invoices import render

    v = X.read_view(X.build_hdon(doc_for(25_000)))
    assert 'http-equiv="refresh"' in render.render_html(v, "u", "issued", "p")
    assert 'http-equiv="refresh"' not in render.render_html(v, "u", "accepted", "p")


def _parse_words(text: str) -> int:
    """Independent reader of Vietnamese amounts, to check vnd_in_words by round trip."""
    digits = {
        "không": 0,
        "một": 1,
        "mốt": 1,
        "hai": 2,
        "ba": 3,
        "bốn": 4,
        "năm": 5,
        "lăm": 5,
        "sáu": 6,
        "bảy": 7,
        "tám": 8,
        "chín": 9,
    }
    scales = {"nghìn": 10**3, "triệu": 10**6, "tỷ": 10**9}
    words = text.lower().split()
    assert words[-1] == "đồng"
    sign = -1 if words[0] == "âm" else 1
    total = group = cur = 0
    for w in words[1 if sign < 0 else 0 : -1]:
        if w in digits:
            cur = digits[w]
        elif w == "trăm":
            group, cur = group + cur * 100, 0
        elif w == "mươi":
            group, cur = group + cur * 10, 0
        elif w == "mười":
            group += 10
        elif w == "linh":
            pass
        elif w in scales:
            total, group, cur = total + (group + cur) * scales[w], 0, 0
        else:
            raise AssertionError(f"unexpected word {w!r}")
    return sign * (total + group + cur)


@given(st.integers(-(10**12) + 1, 10**12 - 1))
def test_words_read_back_to_the_amount(n: int) -> None:
    text = vnd_in_words(n)
    assert text[0].isupper() and "  " not in text
    assert _parse_words(text) == n
