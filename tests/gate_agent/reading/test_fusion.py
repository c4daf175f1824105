"""FrameFuser: pure, time passed in. Examples plus hypothesis properties."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gate_agent.reading.fusion import FrameFuser, FusedPlate
from gate_agent.reading.types import PlateRead


def read(text: str, conf: float, crop: bytes | None = b"jpeg") -> PlateRead:
    return PlateRead(text, text, conf, "car", (0, 0, 10, 10), crop, "test", 1.0)


def run(fuser: FrameFuser, reads: list[tuple[float, PlateRead]], end: float) -> list[FusedPlate]:
    out: list[FusedPlate] = []
    for t, r in reads:
        res = fuser.add(r, t)
        if res is not None:
            out.append(res)
        out.extend(fuser.flush(t))
    out.extend(fuser.flush(end))
    return out


def test_one_vehicle_many_frames_emits_once() -> None:
    fuser = FrameFuser()
    reads = [(0.1 * i, read("30A12345", 0.9)) for i in range(20)]
    out = run(fuser, reads, end=10.0)
    assert [(o.kind, o.text_norm) for o in out] == [("plate", "30A12345")]
    assert out[0].plate_kind == "car"


def test_vote_is_weighted_by_confidence() -> None:
    fuser = FrameFuser(early_weight=100.0)  # decide only when the vehicle leaves
    reads = [
        (0.0, read("30A12345", 0.95)),
        (0.1, read("30A12346", 0.3)),
        (0.2, read("30A12346", 0.3)),
        (0.3, read("30A12345", 0.9)),
    ]
    out = run(fuser, reads, end=5.0)
    assert len(out) == 1
    assert out[0].text_norm == "30A12345"
    assert out[0].votes == 4


def test_repeat_within_window_is_suppressed_then_allowed_after() -> None:
    fuser = FrameFuser(repeat_window_s=30.0)
    first = run(fuser, [(0.0, read("51G12345", 0.9)), (0.1, read("51G12345", 0.9)), (0.2, read("51G12345", 0.9))], 3.0)
    again = run(
        fuser, [(10.0, read("51G12345", 0.9)), (10.1, read("51G12345", 0.9)), (10.2, read("51G12345", 0.9))], 13.0
    )
    later = run(
        fuser, [(60.0, read("51G12345", 0.9)), (60.1, read("51G12345", 0.9)), (60.2, read("51G12345", 0.9))], 63.0
    )
    assert [o.text_norm for o in first] == ["51G12345"]
    assert again == []
    assert [o.text_norm for o in later] == ["51G12345"]


def test_low_confidence_becomes_attendant_with_crop() -> None:
    fuser = FrameFuser(accept=0.6)
    out = run(fuser, [(0.0, read("29B112345", 0.2, b"a")), (0.2, read("29B112345", 0.3, b"best"))], end=5.0)
    assert len(out) == 1
    assert out[0].kind == "attendant"
    assert out[0].crop_jpeg == b"best"


def test_waiting_vehicle_is_decided_by_the_window_not_by_leaving() -> None:
    fuser = FrameFuser(accept=0.6, window_s=2.0)
    results = [fuser.add(read("29B112345", 0.3), 0.1 * i) for i in range(40)]  # 4 s at the barrier
    emitted = [r for r in results if r is not None]
    assert len(emitted) == 1
    assert emitted[0].kind == "attendant"


def test_two_vehicles_in_a_row_give_two_plates() -> None:
    fuser = FrameFuser()
    reads = [(0.1 * i, read("30A12345", 0.9)) for i in range(5)]
    reads += [(5 + 0.1 * i, read("59X312345", 0.9)) for i in range(5)]
    out = run(fuser, reads, end=20.0)
    assert [o.text_norm for o in out] == ["30A12345", "59X312345"]


plates = st.sampled_from(["30A12345", "51G12345", "29B112345", "59X312345", "29MD105200"])


@given(
    plate=plates,
    confs=st.lists(st.floats(min_value=0.7, max_value=1.0), min_size=1, max_size=40),
    dt=st.floats(min_value=0.02, max_value=0.5),
)
def test_one_confident_vehicle_is_emitted_exactly_once(plate: str, confs: list[float], dt: float) -> None:
    fuser = FrameFuser(accept=0.6, gap_s=1.5, repeat_window_s=30.0)
    reads = [(i * dt, read(plate, c)) for i, c in enumerate(confs)]
    out = run(fuser, reads, end=len(confs) * dt + 10.0)
    assert [(o.kind, o.text_norm) for o in out] == [("plate", plate)]


@given(
    confs=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=30),
    texts=st.lists(plates, min_size=1, max_size=30),
)
def test_every_result_is_plate_above_threshold_or_attendant(confs: list[float], texts: list[str]) -> None:
    fuser = FrameFuser(accept=0.6)
    reads = [(0.1 * i, read(texts[i % len(texts)], c)) for i, c in enumerate(confs)]
    for o in run(fuser, reads, end=100.0):
        assert 0.0 <= o.confidence <= 1.0
        assert (o.kind == "plate") == (o.confidence >= 0.6)
        assert o.votes >= 1
