from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_lane_process_never_imports_the_server_nor_the_ocr_stack_unasked() -> None:
    code = (
        "import sys, gate_agent.cli, gate_agent._agent, gate_agent.__main__\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'parking', 'torch', 'easyocr'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
