"""The one VND formatter (issue 9 item 2): Vietnamese grouping with dots, English with commas."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from parking.kit import money


def test_examples() -> None:
    assert money.vnd(85_000) == "85.000 đ"
    assert money.vnd(1_234_567, symbol="₫") == "1.234.567 ₫"
    assert money.vnd(0) == "0 đ"
    assert money.vnd(-5_000) == "-5.000 đ"  # an adjustment invoice
    assert money.vnd_en(85_000) == "85,000 VND"
    assert money.group_thousands(999) == "999"


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from([".", ","]))
def test_grouping_reads_back_and_groups_by_three(n: int, sep: str) -> None:
    text = money.group_thousands(n, sep)
    assert int(text.replace(sep, "")) == n
    groups = text.lstrip("-").split(sep)
    assert 1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])


def test_only_integers_are_money() -> None:
    import pytest

    for bad in (1.5, True, "100"):
        with pytest.raises(TypeError):
            money.vnd(bad)  # type: ignore[arg-type]
