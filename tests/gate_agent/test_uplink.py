from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gate_agent._uplink import Rejected, Retryable, backoff_s, classify


def _resp(status: int) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": "c", "message": "m", "details": {}}})


@pytest.mark.parametrize("status", [401, 403, 408, 429, 500, 502, 503])
def test_retryable_statuses(status: int) -> None:
    with pytest.raises(Retryable):
        classify(_resp(status))


@pytest.mark.parametrize("status", [400, 404, 409, 413, 422])
def test_event_level_4xx_is_rejected(status: int) -> None:
    with pytest.raises(Rejected) as exc:
        classify(_resp(status))
    assert exc.value.code == "c" and exc.value.status == status


@given(attempts=st.integers(0, 1000), max_s=st.floats(0.5, 600))
def test_backoff_is_bounded_and_jittered(attempts: int, max_s: float) -> None:
    d = backoff_s(attempts, base_s=0.5, max_s=max_s)
    cap = min(max_s, 0.5 * 2 ** min(attempts, 30))
    assert cap / 2 <= d <= cap


def test_only_an_answer_about_the_event_keeps_the_link_up() -> None:
    with pytest.raises(Retryable) as exc:
        classify(_resp(500))
    assert exc.value.link_down is False
    for status in (401, 403, 408, 429, 502, 503, 504):
        with pytest.raises(Retryable) as exc:
            classify(_resp(status))
        assert exc.value.link_down is True
