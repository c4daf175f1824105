"""python -m simulators.identity_provider --port 8300 [--issuer http://127.0.0.1:8300]"""

from __future__ import annotations

import argparse

import uvicorn

from simulators.identity_provider.app import IdpConfig, create_app


def main() -> None:
    p = argparse.ArgumentParser(description="OpenID Connect identity provider simulator (city sign-in)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8300)
    p.add_argument("--issuer", default=None, help="default: http://HOST:PORT")
    p.add_argument("--audience", default="parking-hanoi")
    p.add_argument("--no-demo-subjects", action="store_true")
    a = p.parse_args()
    issuer = a.issuer or f"http://{a.host}:{a.port}"
    cfg = IdpConfig(issuer=issuer, audience=a.audience, preload_demo=not a.no_demo_subjects)
    uvicorn.run(create_app(cfg), host=a.host, port=a.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
