"""Schemathesis against the live API's own OpenAPI schema: no generated request may cause a server error.

Bad input must get a clear 4xx, never a 500. This drives every operation with generated and boundary
values (examples, coverage, fuzzing and stateful phases) against the real server, database and Redis.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import LiveServer


@pytest.mark.timeout(600)
def test_no_generated_request_causes_a_server_error(live_server: LiveServer, tmp_path: Path) -> None:
    st = Path(sys.executable).parent / "st"
    out = subprocess.run(
        [str(st), "run", f"{live_server.url}/openapi.json", "--checks", "not_a_server_error",
         "--max-examples", "15", "--seed", "20261122", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    tail = "\n".join(out.stdout.splitlines()[-30:])
    # On failure show schemathesis's FAILURES section (the operation, the request to reproduce it), not only the tally.
    failures = out.stdout[out.stdout.find("FAILURES") :][:6000] if "FAILURES" in out.stdout else tail
    assert out.returncode == 0, failures
    counts = re.search(r"(\d+) generated, (\d+) passed", tail)
    assert counts is not None and int(counts[1]) > 500 and counts[1] == counts[2], tail
