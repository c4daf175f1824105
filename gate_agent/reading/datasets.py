"""Where the shared evaluation photos live. They are never copied into the repository."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def datasets_dir() -> Path:
    """``PARKING_DATASETS_DIR``, else the ``shared/datasets`` folder beside the repository."""
    env = os.environ.get("PARKING_DATASETS_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "datasets"
