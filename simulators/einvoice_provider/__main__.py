from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from simulators.einvoice_provider.app import create_app


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m simulators.einvoice_provider")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8790)
    p.add_argument(
        "--cert",
        action="append",
        default=[],
        type=Path,
        help="PEM certificate of an operator whose signatures are accepted (repeatable)",
    )
    p.add_argument(
        "--cert-dir",
        type=Path,
        default=None,
        help="folder whose *.crt.pem are trusted, re-read on each request (PARKING_INVOICE_CERT_DIR)",
    )
    a = p.parse_args()
    app = create_app([c.read_bytes() for c in a.cert], a.cert_dir)
    uvicorn.run(app, host=a.host, port=a.port, log_level="warning")


if __name__ == "__main__":
    main()
