"""python -m simulators.identity_provider --port 8300 [--issuer http://127.0.0.1:8300]"""

from __future__ import annotations

import argparse

import uvicorn

from simulators.identity_provider.app import DEMO_SUBJECTS, IdpConfig, create_app


def main() -> None:
    p = argparse.ArgumentParser(description="OpenID Connect identity provider simulator (city sign-in)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8300)
    p.add_argument("--issuer", default=None, help="default: http://HOST:PORT")
    p.add_argument("--audience", default="parking-hanoi")
    p.add_argument("--no-demo-subjects", action="store_true")
    p.add_argument(
        "--demo-vehicle",
        action="append",
        default=[],
        metavar="PLATE:CLASS",
        help="vehicles registered to the first demo subject (the demo's cars), instead of the built-in ones",
    )
    a = p.parse_args()
    issuer = a.issuer or f"http://{a.host}:{a.port}"
    subjects = {}
    if a.demo_vehicle:
        vehicles = [
            {"plate": plate, "vehicle_class": vclass, "since": "2024-01-15"}
            for plate, _, vclass in (v.partition(":") for v in a.demo_vehicle)
        ]
        subjects["ihanoi-demo-001"] = {**DEMO_SUBJECTS["ihanoi-demo-001"], "vehicles": vehicles}
    cfg = IdpConfig(issuer=issuer, audience=a.audience, preload_demo=not a.no_demo_subjects, subjects=subjects)
    uvicorn.run(create_app(cfg), host=a.host, port=a.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
