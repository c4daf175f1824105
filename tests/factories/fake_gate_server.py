"""A small but REAL HTTP fake of the server's gate API (the contract in issue #4), run by
uvicorn on 127.0.0.1. It can be stopped and restarted on the same port (offline -> online)
and counts deliveries per event_id (no loss, no doubles). It deduplicates on event_id the
way the real server promises: a replay gets the first answer with ``replayed: true``."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

TOKEN = "lane-secret-token"


def _err(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": {}}}, status_code=status)


class FakeGateServer:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deliveries: Counter[str] = Counter()  # event_id -> POSTs received
        self.first_body: dict[str, dict[str, Any]] = {}
        self.answers: dict[str, dict[str, Any]] = {}
        self.heartbeats: list[dict[str, Any]] = []
        self.cache: dict[str, Any] = {
            "passes": [],
            "linked_plates": [],
            "lot": {"full": {}},
            "generated_at": None,
        }
        self.pay_plates: set[str] = set()  # normalised plates whose exit answers "pay"
        self.reject_plates: set[str] = set()  # answered 422
        # Recorded, then answered 500 once (the real server with Redis down, before the fix): a committed event
        # whose answer is lost.
        self.fail_after_record: set[str] = set()
        self.conflict_plates: set[str] = set()  # answered 409 event_id_conflict (a permanent refusal)
        self.outcomes: Counter[str] = Counter()  # event_id -> outcome POSTs received
        self.outcome_bodies: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        # The lot's unpaid-QR policy sent with a "pay" answer (None: the old answer without one).
        self.pay_policy: dict[str, Any] | None = None
        self.left_unpaid: list[str] = []  # sessions the lane reported as let out unpaid
        self.commands: list[dict[str, Any]] = []
        self.delay_s = 0.0
        self.port = _free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- helpers for tests ----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def distinct(self) -> int:
        with self.lock:
            return len(self.deliveries)

    def push_command(self, cmd: dict[str, Any]) -> None:
        with self.lock:
            self.commands.append(cmd)

    # -- app ------------------------------------------------------------------------------

    def app(self) -> Starlette:
        def authed(request: Request) -> bool:
            return request.headers.get("authorization") == f"Bearer {TOKEN}"

        async def events(request: Request) -> JSONResponse:
            if not authed(request):
                return _err(401, "unauthorized", "bad lane token")
            body = await request.json()
            for key in ("event_id", "kind", "confidence", "captured_at"):
                if key not in body:
                    return _err(422, "validation_error", f"{key} is required")
            uuid.UUID(body["event_id"])
            if datetime.fromisoformat(body["captured_at"]).tzinfo is None:
                return _err(422, "validation_error", "captured_at must carry a UTC offset")
            eid = body["event_id"]
            norm = "".join(c for c in (body.get("plate") or "").upper() if c.isalnum())
            with self.lock:
                # Recorded on arrival, answered after `delay_s`: a client killed meanwhile has
                # been "heard" by the server without hearing back (the resend case).
                self.deliveries[eid] += 1
                replayed = eid in self.answers
                if not replayed and norm in self.reject_plates:
                    return _err(422, "plate_invalid", f"plate {body.get('plate')} is not a plate")
                if norm in self.conflict_plates or (replayed and self.first_body[eid] != body):
                    # As the real server: the same id with another body is a device bug, never accepted.
                    return _err(409, "event_id_conflict", "already received with different content")
                if not replayed:
                    self.first_body[eid] = body
                    self.answers[eid] = self._decide(body, norm)
                    if norm in self.fail_after_record:
                        self.fail_after_record.discard(norm)
                        return _err(500, "internal_error", "stored, then failed before answering")
                answer = self.answers[eid]
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            return JSONResponse({**answer, "replayed": replayed})

        async def outcome(request: Request) -> JSONResponse:
            if not authed(request):
                return _err(401, "unauthorized", "bad lane token")
            eid = request.path_params["eid"]
            body = await request.json()
            with self.lock:
                self.outcomes[eid] += 1
                if eid not in self.answers:
                    return _err(404, "event_not_found", "send the event before its outcome")
                replayed = eid in self.outcome_bodies
                self.outcome_bodies.setdefault(eid, body)
                sid = self.answers[eid].get("session_id")
            return JSONResponse(
                {
                    "event_id": eid,
                    "session_id": sid,
                    "session_status": "closed",
                    "payment_status": None,
                    "flags": [],
                    "replayed": replayed,
                }
            )

        async def heartbeat(request: Request) -> JSONResponse:
            if not authed(request):
                return _err(401, "unauthorized", "bad lane token")
            beat = await request.json()  # never await while holding the (thread) lock
            with self.lock:
                self.heartbeats.append(beat)
            return JSONResponse({"server_time": datetime.now(UTC).isoformat(), "lane": {}})

        async def cache(request: Request) -> JSONResponse:
            if not authed(request):
                return _err(401, "unauthorized", "bad lane token")
            with self.lock:
                return JSONResponse({**self.cache, "generated_at": datetime.now(UTC).isoformat()})

        async def session(request: Request) -> JSONResponse:
            sid = request.path_params["sid"]
            with self.lock:
                s = self.sessions.get(sid)
            if s is None:
                return _err(404, "not_found", "no such session")
            return JSONResponse(s)

        async def left_unpaid(request: Request) -> JSONResponse:
            if not authed(request):
                return _err(401, "unauthorized", "no")
            sid = request.path_params["sid"]
            self.left_unpaid.append(sid)
            if sid in self.sessions:
                self.sessions[sid]["payment_status"] = "debt"
            return JSONResponse({"session_id": sid, "debt_id": str(uuid.uuid4()), "amount_vnd": 5000})

        async def commands(request: Request) -> StreamingResponse:
            async def gen() -> Any:
                sent = len(self.commands)  # only commands pushed after the lane connected
                yield ": connected\n\n"
                while self._server is not None and not self._server.should_exit:
                    with self.lock:
                        new = self.commands[sent:]
                        sent = len(self.commands)
                    for c in new:
                        yield f"data: {json.dumps(c)}\n\n"
                    await asyncio.sleep(0.05)

            return StreamingResponse(gen(), media_type="text/event-stream")

        return Starlette(
            routes=[
                Route("/v1/gate/events", events, methods=["POST"]),
                Route("/v1/gate/events/{eid}/outcome", outcome, methods=["POST"]),
                Route("/v1/gate/heartbeat", heartbeat, methods=["POST"]),
                Route("/v1/gate/cache", cache),
                Route("/v1/gate/sessions/{sid}", session),
                Route("/v1/gate/sessions/{sid}/left-unpaid", left_unpaid, methods=["POST"]),
                Route("/v1/gate/commands", commands),
            ]
        )

    def _decide(self, body: dict[str, Any], norm: str) -> dict[str, Any]:
        sid = str(uuid.uuid4())
        base = {
            "event_id": body["event_id"],
            "session_id": sid,
            "fee_vnd": None,
            "payment": None,
            "receipt_url": None,
            "flags": [],
        }
        if body.get("offline_action") == "opened":
            return {
                **base,
                "action": "open",
                "display": {"title": "recorded", "lines": []},
                "flags": ["offline"],
            }
        if body["kind"] == "exit" and norm in self.pay_plates:
            self.sessions[sid] = {
                "session_id": sid,
                "status": "open",
                "payment_status": "unpaid",
                "action": "pay",
            }
            return {
                **base,
                "action": "pay",
                "fee_vnd": 5000,
                "display": {"title": "Vui lòng thanh toán", "lines": [body.get("plate") or ""]},
                "payment": {
                    "qr_payload": f"00020101021238570010A000000727PAY{norm}",
                    "reference": f"REF{norm}",
                    "amount_vnd": 5000,
                    "expires_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
                    **(self.pay_policy or {}),
                },
            }
        fee = 5000 if body["kind"] == "exit" else None
        return {**base, "action": "open", "fee_vnd": fee, "display": {"title": "Xin mời", "lines": []}}

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        config = uvicorn.Config(self.app(), log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(pred: Any, timeout: float = 20.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())
