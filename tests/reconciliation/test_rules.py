"""Property tests of the pure reconciliation rules (reconciliation/rules.py)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation import rules
from reconciliation.rules import Expected, Line

CROCK = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
T0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)

refs = st.text(alphabet=CROCK, min_size=8, max_size=8).map(lambda b: "PK" + b)
names = st.sampled_from(["NGUYEN VAN A", "tran thi b", "LE VAN CUONG", ""])
accounts = st.text(alphabet="0123456789", min_size=0, max_size=13)


@st.composite
def mangled(draw: st.DrawFn, ref: str) -> str:
    """The reference as a bank may deliver it: prefixes, case, spaces inserted or removed, name/account glued."""
    body = ref
    if draw(st.booleans()):  # spaces inserted inside the reference
        cut = draw(st.integers(1, len(body) - 1))
        body = body[:cut] + " " * draw(st.integers(1, 2)) + body[cut:]
    if draw(st.booleans()):
        body = body.lower()
    prefix = draw(st.sampled_from(["", "MBVCB.4525077405.9P0019630833.", "IBFT ", "TKThe :0011, ND:", "CK "]))
    glue = draw(st.sampled_from(["", " ", "-", "."]))
    tail = draw(st.sampled_from(["", " CT tu 0351000646393 NGUYEN THE HUNG toi1018795282", "GD 12345"]))
    text = prefix + glue + body + glue + draw(names) + draw(accounts) + tail
    if draw(st.booleans()):
        text = text.replace(" ", "")
    return text


@given(data=st.data(), ref=refs)
def test_reference_survives_mangling(data: st.DataObject, ref: str) -> None:
    narrative = data.draw(mangled(ref))
    assert ref in rules.extract_tokens(narrative).full


@given(ref=refs, keep=st.integers(rules.PARTIAL_BODY_LEN, 7), junk=st.sampled_from(["", " CT TU", "...", " 0351"]))
def test_truncated_reference_leaves_a_partial_token(ref: str, keep: int, junk: str) -> None:
    narrative = "MBVCB.123.456." + ref[: 2 + keep] + junk
    assert rules.partial_of(ref) in rules.extract_tokens(narrative).partial


def test_lookalikes_fold_back() -> None:
    assert rules.extract_tokens("ck pk7f3k9q2m").full == ("PK7F3K9Q2M",)
    assert "PK0F1K9Q2M" in rules.extract_tokens("PKOFIK9Q2M").full


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[Expected], list[Line]]:
    n = draw(st.integers(0, 12))
    ref_list = draw(st.lists(refs, min_size=n, max_size=n, unique=True))
    exp = [
        Expected(f"e{i:03d}", r, draw(st.sampled_from([3000, 5000, 25000, 30000])), T0 + timedelta(minutes=7 * i))
        for i, r in enumerate(ref_list)
    ]
    lines: list[Line] = []
    for j in range(draw(st.integers(0, 16))):
        kind = draw(st.sampled_from(["exact", "dup", "amount", "noref", "trunc", "late"]))
        if exp and kind != "noref":
            e = draw(st.sampled_from(exp))
            amount = e.amount_vnd if kind != "amount" else e.amount_vnd * draw(st.sampled_from([100, 2])) // 1
            ref_text = e.reference if kind != "trunc" else e.reference[:8]
            at = e.at + timedelta(minutes=draw(st.integers(0, 20)))
            if kind == "late":
                at = e.at + timedelta(hours=draw(st.integers(1, 60)))
            narrative = f"MBVCB.{j}.{ref_text} CT tu {j}"
        else:
            amount = draw(st.sampled_from([3000, 5000, 25000]))
            at = T0 + timedelta(minutes=draw(st.integers(0, 120)))
            narrative = f"CHUYEN TIEN {j}"
        lines.append(Line(f"l{j:03d}", amount, at, narrative))
    return exp, lines


@settings(max_examples=200)
@given(sc=scenario(), seed=st.integers(0, 2**32 - 1))
def test_each_line_once_and_order_independent(sc: tuple[list[Expected], list[Line]], seed: int) -> None:
    exp, lines = sc
    res = rules.match(exp, lines)
    assert set(res.decisions) == {ln.key for ln in lines}  # every line decided exactly once
    primaries = [d.expected_key for d in res.decisions.values() if d.outcome in ("matched", "amount_mismatch")]
    assert len(primaries) == len(set(primaries))  # each expected payment has at most one match
    for d in res.decisions.values():
        if d.outcome == "duplicate":  # a duplicate always sits next to a primary match
            assert d.expected_key in primaries
        if d.outcome == "review":  # a fall-back is only a suggestion for an otherwise unmatched payment
            assert d.expected_key in res.unmatched_expected
    assert set(res.unmatched_expected).isdisjoint(primaries)
    rng = random.Random(seed)
    exp2, lines2 = exp[:], lines[:]
    rng.shuffle(exp2)
    rng.shuffle(lines2)
    assert rules.match(exp2, lines2) == res


def test_the_rules_on_a_small_day() -> None:
    e1 = Expected("e1", "PK7F3K9Q2M", 25000, T0)
    e2 = Expected("e2", "PKAAAAAAAA", 5000, T0, payer_account="0351000646393")
    e3 = Expected("e3", "PKBBBBBBBB", 3000, T0)
    lines = [
        Line("a", 25000, T0 + timedelta(minutes=1), "MBVCB.1.PK7F3 K9Q2M CT tu 0351"),
        Line("b", 25000, T0 + timedelta(minutes=2), "MBVCB.2.PK7F3K9Q2M CT tu 0351"),  # double scan
        Line("c", 5000, T0 + timedelta(minutes=3), "CHUYEN TIEN", payer_account="0351000646393"),  # static QR
        Line("d", 300000, T0 + timedelta(minutes=4), "IBFT PKBBBBBBBB"),  # x100
        Line("e", 7000, T0 + timedelta(minutes=4), "no reference at all"),
    ]
    res = rules.match([e1, e2, e3], lines)
    assert res.decisions["a"].outcome == "matched"
    assert res.decisions["b"].outcome == "duplicate"
    assert res.decisions["c"] == rules.Decision("c", "review", "e2", "fallback")
    assert res.decisions["d"].outcome == "amount_mismatch"
    assert res.decisions["e"].outcome == "orphan"
    assert res.unmatched_expected == ("e2",)


def test_outside_the_time_window_is_not_a_match() -> None:
    e = Expected("e", "PK7F3K9Q2M", 25000, T0)
    res = rules.match([e], [Line("x", 25000, T0 + timedelta(days=5), "PK7F3K9Q2M")])
    assert res.decisions["x"].outcome == "orphan"


def test_transfer_late_and_leakage() -> None:
    from datetime import date

    day = date(2026, 11, 30)
    assert not rules.transfer_late(day, datetime(2026, 12, 1, 20, 0, tzinfo=rules.VN_TZ))
    assert rules.transfer_late(day, datetime(2026, 12, 2, 0, 1, tzinfo=rules.VN_TZ))
    assert rules.leakage(10, 6, 2, 1, 0) == 1
    assert rules.leakage(3, 6, 0, 0, 0) == 0
    assert set(rules.count_classes(["leakage"])) == set(rules.CLASS_CODES)
