"""Several API instances behind nginx share one PostgreSQL and Redis: no error, no event lost or stored twice,
even when one instance is killed (-9) half-way and nginx re-sends its in-flight events to another instance."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARGS = ["--instances", "2", "--lots", "2", "--lanes-per-lot", "2", "--duration", "5", "--kill-one"]

# CI (.ci/run) installs Debian's nginx-light; a bare developer machine may not have it.
pytestmark = pytest.mark.skipif(
    shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
    reason="needs nginx (apt-get install nginx-light)",
)


def test_instances_behind_nginx_lose_and_double_nothing_when_one_is_killed() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "horizontal.py"), *ARGS],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout)
    inv = res["invariants"]
    assert res["killed_one_instance"] is True
    assert res["events"] > 0
    assert res["errors"] == 0, res["error_samples"]
    assert inv["sent"] == inv["acknowledged"] == inv["stored"]
    assert inv["stored_twice"] == 0
    assert inv["acknowledged_not_stored"] == 0
    assert inv["sessions_open_twice"] == 0
