"""Shared fixtures for the plate-reading tests (they need the `gate` extra: OpenCV + an OCR engine)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gate_agent.reading.datasets import datasets_dir

# `make test` installs the `gate` extra, so these tests never skip for want of it: a missing OCR engine
# must fail the suite, not hide behind a skip. Only the photos may be absent (a clone without ../shared).
needs_gate = pytest.mark.gate


@pytest.fixture(scope="session")
def reader() -> Iterator[object]:
    from gate_agent.reading import make_reader

    yield make_reader("default", threads=1)


@pytest.fixture(scope="session")
def vn_plates() -> Path:
    path = datasets_dir() / "vn-plates"
    if not (path / "labels.csv").exists():
        pytest.skip(f"shared photos not found at {path} (set PARKING_DATASETS_DIR)")
    return path


@pytest.fixture(scope="session")
def vn_frames() -> Path:
    path = datasets_dir() / "vn-frames"
    if not (path / "labels.csv").exists():
        pytest.skip(f"shared frames not found at {path} (set PARKING_DATASETS_DIR)")
    return path
