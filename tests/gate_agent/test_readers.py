from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from gate_agent._camera import Frame
from gate_agent._readers import Read, SidecarReader, VehicleSplitter, normalise


def _frame(t: float, label: str | None = None, discrete: bool = False) -> Frame:
    return Frame(np.zeros((2, 2, 3), np.uint8), datetime.now(UTC), t, label=label, discrete=discrete)


def test_sidecar_reader_normalises_and_guesses_kind() -> None:
    (moto,) = SidecarReader().read(_frame(0, "59-N1 014.25"))
    (car,) = SidecarReader().read(_frame(0, "30A-556.66"))
    assert (moto.plate_norm, moto.plate_display, moto.kind) == ("59N101425", "59-N1 014.25", "moto_2line")
    assert (car.plate_norm, car.kind, car.confidence) == ("30A55666", "car_1line", 1.0)
    assert SidecarReader().read(_frame(0, None)) == []
    assert normalise("29-md1 052.00") == "29MD105200"


def test_discrete_frames_are_one_vehicle_each() -> None:
    s = VehicleSplitter(1.0, use_reading_fuser=False)
    a, b = Read("30A1", "30A-1", 0.5), Read("30A1", "30A-1", 0.9)
    assert s.add(_frame(0, discrete=True), [a, b]) == [b]
    assert s.add(_frame(1, discrete=True), []) == []


def test_video_burst_fused_to_its_best_read() -> None:
    s = VehicleSplitter(1.0, use_reading_fuser=False)
    r1, r2, r3 = Read("30A1", "30A-1", 0.5), Read("30A1", "30A-1", 0.9), Read("30A1", "30A-1", 0.7)
    assert s.add(_frame(0.0), [r1]) == []
    assert s.add(_frame(0.3), [r2]) == []
    assert s.add(_frame(0.6), [r3]) == []
    # the car waits at the barrier: the window ends the burst without it leaving the view
    assert s.add(_frame(1.0), [r1]) == [r2]
    # plate out of view with nothing pending: nothing
    assert s.add(_frame(1.2), []) == []


def test_video_plate_leaving_view_or_another_plate_settles_the_burst() -> None:
    s = VehicleSplitter(5.0, use_reading_fuser=False)
    a, b = Read("30A1", "30A-1", 0.8), Read("29B2", "29B-2", 0.9)
    assert s.add(_frame(0.0), [a]) == []
    assert s.add(_frame(0.2), [b]) == [a]
    assert s.add(_frame(0.4), []) == [b]
    assert s.flush(10.0) == []
