"""The one place that maps an invoice onto the Decision 1271/QĐ-CT XML (``HDon``) and envelope (``TDiep``).

The official XSD of Decision 1271 is not available to us (its field tables were lost in the stored
copy, see docs/invoices.md). Tag names follow the decision's naming rule and the samples quoted in
../shared/domain/README.md §3.4; ``config/schemas/hdon-cash-register.xsd`` is *our* schema for exactly
the fields emitted here. When the official schema arrives, change this module and that file only.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from lxml import etree

from parking.invoices.vat import VatSplit, split_inclusive
from parking.invoices.words import vnd_in_words
from parking.vocabulary import VN_TZ

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "schemas" / "hdon-cash-register.xsd"

PBAN = "2.1.0"  # format version we claim to follow [U: exact value in Decision 1271 not retrieved]
TITLE_VAT_CASH_REGISTER = "Hóa đơn giá trị gia tăng khởi tạo từ máy tính tiền"
# MLTDiep for "cash-register invoice with code sent to the tax authority": [U] not retrieved; 206 is
# the value used by the earlier 1450/QĐ-TCT standard as we remember it. Configurable by callers.
MLTDIEP_CASH_REGISTER = "206"
MNNHAN_TAX_AUTHORITY = "TCT"
DLHDON_ID = "DLHDon"
DLIEU_ID = "DLieu"
TCHDON_ADJUSTMENT = 2  # "tính chất hóa đơn": 1 replacement, 2 adjustment [S]
DS_NS = "http://www.w3.org/2000/09/xmldsig#"


@dataclass(frozen=True)
class Party:
    name: str
    tax_code: str
    address: str


@dataclass(frozen=True)
class Buyer:
    """Only what the driver asked to have printed (Decree 123 Art. 11.3)."""

    name: str | None = None
    tax_code: str | None = None
    address: str | None = None
    id_number: str | None = None  # CCCD
    phone: str | None = None


@dataclass(frozen=True)
class Line:
    name: str  # "Dịch vụ trông giữ xe"
    unit: str  # "lượt"
    total_vnd: int  # VAT-inclusive; negative on a decreasing adjustment
    rate_bp: int
    info: dict[str, str] = field(default_factory=dict)  # lot, plate, entry/exit times -> TTKhac

    @property
    def split(self) -> VatSplit:
        return split_inclusive(self.total_vnd, self.rate_bp)


@dataclass(frozen=True)
class Related:
    """The original invoice an adjustment refers to (TTHDLQuan)."""

    template: int
    symbol: str
    number: int
    issued_on: date
    note: str


@dataclass(frozen=True)
class InvoiceDoc:
    template: int  # KHMSHDon
    symbol: str  # KHHDon, 6 chars
    number: int  # SHDon
    issued_at: datetime  # tz-aware
    mccqt: str
    seller: Party
    lines: Sequence[Line]
    buyer: Buyer | None = None
    payment_method: str = "Chuyển khoản"
    related: Related | None = None
    title: str = TITLE_VAT_CASH_REGISTER

    def totals(self) -> list[VatSplit]:
        """One VatSplit per rate (THTTLTSuat/LTSuat), each the sum of its lines' splits."""
        by_rate: dict[int, tuple[int, int, int]] = {}
        for line in self.lines:
            s = line.split
            t, n, v = by_rate.get(line.rate_bp, (0, 0, 0))
            by_rate[line.rate_bp] = (t + s.total_vnd, n + s.net_vnd, v + s.vat_vnd)
        return [VatSplit(t, n, v, r) for r, (t, n, v) in sorted(by_rate.items())]


def vn_date(dt: datetime) -> str:
    if dt.tzinfo is None:
        raise ValueError("naive datetime")
    return dt.astimezone(VN_TZ).strftime("%Y-%m-%d")


def vn_datetime(dt: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ss`` in GMT+7, as the decision asks (no offset suffix)."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime")
    return dt.astimezone(VN_TZ).strftime("%Y-%m-%dT%H:%M:%S")


def _sub(parent: etree._Element, tag: str, text: object | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = str(text)
    return el


def _opt(parent: etree._Element, tag: str, text: str | None) -> None:
    if text:
        _sub(parent, tag, text)


def _rate_label(rate_bp: int) -> str:
    return split_inclusive(0, rate_bp).rate_label


def build_hdon(doc: InvoiceDoc) -> etree._Element:
    if not doc.lines:
        raise ValueError("an invoice needs at least one line")
    hdon = etree.Element("HDon")
    dl = _sub(hdon, "DLHDon")
    dl.set("Id", DLHDON_ID)

    tt = _sub(dl, "TTChung")
    _sub(tt, "PBan", PBAN)
    _sub(tt, "THDon", doc.title)
    _sub(tt, "KHMSHDon", doc.template)
    _sub(tt, "KHHDon", doc.symbol)
    _sub(tt, "SHDon", doc.number)
    _sub(tt, "NLap", vn_date(doc.issued_at))
    _sub(tt, "DVTTe", "VND")
    _sub(tt, "HTTToan", doc.payment_method)
    if doc.related is not None:
        rel = _sub(tt, "TTHDLQuan")
        _sub(rel, "TCHDon", TCHDON_ADJUSTMENT)
        _sub(rel, "LHDCLQuan", 1)  # the related invoice is an e-invoice under Decree 123 [S]
        _sub(rel, "KHMSHDCLQuan", doc.related.template)
        _sub(rel, "KHHDCLQuan", doc.related.symbol)
        _sub(rel, "SHDCLQuan", doc.related.number)
        _sub(rel, "NLHDCLQuan", doc.related.issued_on.isoformat())
        _sub(rel, "GChu", doc.related.note)
    info = _sub(tt, "TTKhac")
    _ttin(info, "TGLap", "dateTime", vn_datetime(doc.issued_at))  # time of issuance (Art. 11.3)

    nd = _sub(dl, "NDHDon")
    nban = _sub(nd, "NBan")
    _sub(nban, "Ten", doc.seller.name)
    _sub(nban, "MST", doc.seller.tax_code)
    _sub(nban, "DChi", doc.seller.address)
    nmua = _sub(nd, "NMua")
    if doc.buyer is not None:
        _opt(nmua, "Ten", doc.buyer.name)
        _opt(nmua, "MST", doc.buyer.tax_code)
        _opt(nmua, "DChi", doc.buyer.address)
        _opt(nmua, "CCCDan", doc.buyer.id_number)
        _opt(nmua, "SDThoai", doc.buyer.phone)

    ds = _sub(nd, "DSHHDVu")
    for i, line in enumerate(doc.lines, start=1):
        s = line.split
        item = _sub(ds, "HHDVu")
        _sub(item, "TChat", 1)  # goods/services
        _sub(item, "STT", i)
        _sub(item, "THHDVu", line.name)
        _sub(item, "DVTinh", line.unit)
        # One parking turn per line: quantity 1, so the unit price before VAT is the amount and no
        # per-unit rounding can break the sum.
        _sub(item, "SLuong", 1)
        _sub(item, "DGia", s.net_vnd)
        _sub(item, "ThTien", s.net_vnd)
        _sub(item, "TSuat", s.rate_label)
        if line.info:
            li = _sub(item, "TTKhac")
            for k, v in line.info.items():
                _ttin(li, k, "string", v)

    tt_ = _sub(nd, "TToan")
    lts = _sub(tt_, "THTTLTSuat")
    totals = doc.totals()
    for t in totals:
        el = _sub(lts, "LTSuat")
        _sub(el, "TSuat", t.rate_label)
        _sub(el, "ThTien", t.net_vnd)
        _sub(el, "TThue", t.vat_vnd)
    net = sum(t.net_vnd for t in totals)
    vat = sum(t.vat_vnd for t in totals)
    _sub(tt_, "TgTCThue", net)
    _sub(tt_, "TgTThue", vat)
    _sub(tt_, "TgTTTBSo", net + vat)
    _sub(tt_, "TgTTTBChu", vnd_in_words(net + vat))

    _sub(hdon, "MCCQT", doc.mccqt)
    return hdon


def with_seller_signature_placeholder(hdon: etree._Element) -> etree._Element:
    """A copy of the invoice with ``DSCKS/NBan`` holding a ``ds:Signature`` placeholder for signing.py.

    ``DSCKS`` (the invoice's signatures) follows ``MCCQT``; ``NBan`` is the seller's. The invoice as issued
    (stored in ``invoices.xml``) has none: it is signed when transmitted, with the certificate installed then.
    """
    copy = etree.fromstring(etree.tostring(hdon))
    for old in copy.findall("DSCKS"):
        copy.remove(old)
    nban = _sub(_sub(copy, "DSCKS"), "NBan")
    ph = etree.SubElement(nban, f"{{{DS_NS}}}Signature", nsmap={"ds": DS_NS})
    ph.set("Id", "placeholder")  # signxml fills the placeholder in place
    return copy


def _ttin(parent: etree._Element, key: str, kind: str, value: str) -> None:
    t = _sub(parent, "TTin")
    _sub(t, "TTruong", key)
    _sub(t, "KDLieu", kind)
    _sub(t, "DLieu", value)


def new_mtdiep(mngui: str) -> str:
    """MTDiep = MNGui + 32 upper-case hex characters of a UUIDv4 (Decision 1271)."""
    return mngui + uuid.uuid4().hex.upper()


def build_tdiep(
    hdon: etree._Element,
    *,
    mngui: str,
    mst: str,
    mtdiep: str | None = None,
    mnnhan: str = MNNHAN_TAX_AUTHORITY,
    mltdiep: str = MLTDIEP_CASH_REGISTER,
) -> etree._Element:
    """Envelope with a ``ds:Signature`` placeholder in ``CKSNNT`` for signing.py to fill."""
    tdiep = etree.Element("TDiep")
    tt = _sub(tdiep, "TTChung")
    _sub(tt, "PBan", PBAN)
    _sub(tt, "MNGui", mngui)
    _sub(tt, "MNNhan", mnnhan)
    _sub(tt, "MLTDiep", mltdiep)
    _sub(tt, "MTDiep", mtdiep or new_mtdiep(mngui))
    _sub(tt, "MST", mst)
    _sub(tt, "SLuong", 1)  # one invoice per message
    dlieu = _sub(tdiep, "DLieu")
    dlieu.set("Id", DLIEU_ID)
    dlieu.append(hdon)
    cks = _sub(tdiep, "CKSNNT")
    ph = etree.SubElement(cks, f"{{{DS_NS}}}Signature", nsmap={"ds": DS_NS})
    ph.set("Id", "placeholder")  # signxml fills the placeholder in place
    return tdiep


@lru_cache(maxsize=1)
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))


def validate(el: etree._Element) -> None:
    """Raise ``etree.DocumentInvalid`` with the schema's message if ``el`` does not conform."""
    schema().assertValid(el)


def to_bytes(el: etree._Element) -> bytes:
    return etree.tostring(el, xml_declaration=True, encoding="UTF-8")


def from_bytes(data: bytes) -> etree._Element:
    # No entity resolution or network access: the simulator parses untrusted input with this.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)
    return etree.fromstring(data, parser)


@dataclass(frozen=True)
class HDonSummary:
    mccqt: str
    symbol: str
    number: int
    net_vnd: int
    vat_vnd: int
    total_vnd: int
    seller_tax_code: str


def summarize(hdon: etree._Element) -> HDonSummary:
    """Read back the fields other parts (simulator, verify, tests) check."""

    def t(path: str) -> str:
        v = hdon.findtext(path)
        if v is None:
            raise ValueError(f"missing {path}")
        return v

    return HDonSummary(
        mccqt=t("MCCQT"),
        symbol=t("DLHDon/TTChung/KHHDon"),
        number=int(t("DLHDon/TTChung/SHDon")),
        net_vnd=int(t("DLHDon/NDHDon/TToan/TgTCThue")),
        vat_vnd=int(t("DLHDon/NDHDon/TToan/TgTThue")),
        total_vnd=int(t("DLHDon/NDHDon/TToan/TgTTTBSo")),
        seller_tax_code=t("DLHDon/NDHDon/NBan/MST"),
    )


@dataclass(frozen=True)
class ReceiptLine:
    name: str
    unit: str
    net_vnd: int
    rate: str
    info: dict[str, str]
    quantity: int = 1  # SLuong
    unit_price_vnd: int = 0  # DGia (before VAT)


@dataclass(frozen=True)
class ReceiptView:
    """Everything the lookup page and PDF show, read back from the issued XML (what was sent is shown)."""

    title: str
    printed_symbol: str
    number: int
    issued_on: str
    issued_at: str
    mccqt: str
    seller: Party
    buyer: dict[str, str]
    lines: list[ReceiptLine]
    net_vnd: int
    vat_vnd: int
    total_vnd: int
    total_words: str
    rates: list[tuple[str, int, int]]  # (TSuat, ThTien, TThue)
    related: dict[str, str]
    payment_method: str


def _ttkhac(el: etree._Element | None) -> dict[str, str]:
    if el is None:
        return {}
    return {t.findtext("TTruong") or "": t.findtext("DLieu") or "" for t in el.findall("TTin")}


def read_view(hdon: etree._Element) -> ReceiptView:
    tt = hdon.find("DLHDon/TTChung")
    nd = hdon.find("DLHDon/NDHDon")
    if tt is None or nd is None:
        raise ValueError("not an HDon")
    info = _ttkhac(tt.find("TTKhac"))
    nmua = nd.find("NMua")
    rel = tt.find("TTHDLQuan")
    return ReceiptView(
        title=tt.findtext("THDon") or "",
        printed_symbol=f"{tt.findtext('KHMSHDon')}{tt.findtext('KHHDon')}",
        number=int(tt.findtext("SHDon") or 0),
        issued_on=tt.findtext("NLap") or "",
        issued_at=info.get("TGLap", ""),
        mccqt=hdon.findtext("MCCQT") or "",
        seller=Party(nd.findtext("NBan/Ten") or "", nd.findtext("NBan/MST") or "", nd.findtext("NBan/DChi") or ""),
        buyer={c.tag: c.text or "" for c in nmua} if nmua is not None else {},
        lines=[
            ReceiptLine(
                name=h.findtext("THHDVu") or "",
                unit=h.findtext("DVTinh") or "",
                net_vnd=int(h.findtext("ThTien") or 0),
                rate=h.findtext("TSuat") or "",
                info=_ttkhac(h.find("TTKhac")),
                quantity=int(h.findtext("SLuong") or 1),
                unit_price_vnd=int(h.findtext("DGia") or h.findtext("ThTien") or 0),
            )
            for h in nd.findall("DSHHDVu/HHDVu")
        ],
        net_vnd=int(nd.findtext("TToan/TgTCThue") or 0),
        vat_vnd=int(nd.findtext("TToan/TgTThue") or 0),
        total_vnd=int(nd.findtext("TToan/TgTTTBSo") or 0),
        total_words=nd.findtext("TToan/TgTTTBChu") or "",
        rates=[
            (r.findtext("TSuat") or "", int(r.findtext("ThTien") or 0), int(r.findtext("TThue") or 0))
            for r in nd.findall("TToan/THTTLTSuat/LTSuat")
        ],
        related={c.tag: c.text or "" for c in rel} if rel is not None else {},
        payment_method=tt.findtext("HTTToan") or "",
    )
