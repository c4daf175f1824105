from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gate_agent._decision import LaneCache, decide_offline

plates = st.text(alphabet="0123456789ABCDEFGHKLMNPSTUVXYZ", min_size=6, max_size=10)
caches = st.builds(
    LaneCache,
    passes=st.frozensets(plates, max_size=5),
    linked_plates=st.frozensets(plates, max_size=5),
    lot_full=st.dictionaries(st.sampled_from(["motorbike", "car_small"]), st.booleans()),
)


@given(
    plate=st.none() | plates,
    conf=st.floats(0, 1),
    cache=caches,
    vc=st.sampled_from([None, "motorbike", "car_small"]),
)
def test_entry_always_opens_offline(plate: str | None, conf: float, cache: LaneCache, vc: str | None) -> None:
    d = decide_offline(
        kind="entry",
        plate_norm=plate,
        plate_display=plate,
        confidence=conf,
        min_confidence=0.6,
        vehicle_class=vc,
        cache=cache,
    )
    assert d.action == "open"
    assert "offline" in d.flags
    assert ("lot_full_at_last_sync" in d.flags) == bool(vc and cache.lot_full.get(vc))


@given(plate=plates, conf=st.floats(0.6, 1), cache=caches)
def test_readable_exit_opens_and_is_charged_later_or_a_pass(plate: str, conf: float, cache: LaneCache) -> None:
    d = decide_offline(
        kind="exit",
        plate_norm=plate,
        plate_display=plate,
        confidence=conf,
        min_confidence=0.6,
        vehicle_class=None,
        cache=cache,
    )
    assert d.action == "open"
    if plate in cache.passes:
        assert "pass" in d.flags
    else:
        assert "charge_later" in d.flags
        assert ("linked_account" in d.flags) == (plate in cache.linked_plates)
        assert ("unverified" in d.flags) == (plate not in cache.linked_plates)


@given(plate=st.none() | plates, conf=st.floats(0, 0.5999), cache=caches)
def test_unreadable_exit_calls_the_attendant(plate: str | None, conf: float, cache: LaneCache) -> None:
    d = decide_offline(
        kind="exit",
        plate_norm=plate,
        plate_display=plate,
        confidence=conf,
        min_confidence=0.6,
        vehicle_class=None,
        cache=cache,
    )
    assert d.action == "attendant"
    assert "plate_unread" in d.flags


def test_cache_from_server_json() -> None:
    c = LaneCache.from_json(
        {
            "passes": ["30A12345"],
            "linked_plates": ["29B112345"],
            "lot": {"full": {"motorbike": True}},
            "generated_at": "2026-11-22T00:00:00+00:00",
        }
    )
    assert c.passes == {"30A12345"} and c.linked_plates == {"29B112345"} and c.lot_full == {"motorbike": True}
