"""The lane process: camera -> reader -> event (persisted) -> decision -> barrier + display.

Threads (the work is blocking: camera reads, OCR, a relay request; a few threads are
simpler to reason about than an event loop around them):
  pipeline   frames -> vehicles -> events (the caller's thread, ``run``)
  sender     drains the SQLite queue with backoff; replays after restart or outage
  heartbeat  fps, frame counts, last read, queue depth, latency -> server
  cache      refreshes passes / linked plates / lot state for offline decisions
  commands   SSE stream: "open" after payment or by an operator, "display"
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import structlog

from gate_agent._barrier import Barrier, BarrierError, HttpRelayBarrier, SimulatedBarrier
from gate_agent._camera import FolderSource, Frame, FrameSource, make_source
from gate_agent._decision import LaneCache, decide_offline
from gate_agent._display import KioskDisplay
from gate_agent._readers import OcrReader, Read, Reader, VehicleSplitter, _read_from, make_reader
from gate_agent._store import EventStore, mint_event_id
from gate_agent._uplink import AGENT_VERSION, Rejected, Retryable, Uplink, backoff_s
from gate_agent.config import AgentConfig

log = structlog.get_logger("gate_agent")

MAX_IMAGE_BYTES = 512 * 1024
PAID_STATUSES = {"paid", "deferred", "captured", "authorized"}


@dataclass
class LatencyStats:
    """Frame capture -> barrier command, in ms, split by whether the server answered."""

    online: deque[float] = field(default_factory=lambda: deque(maxlen=2000))
    offline: deque[float] = field(default_factory=lambda: deque(maxlen=2000))

    @staticmethod
    def _summary(xs: deque[float]) -> dict[str, float | int | None]:
        if not xs:
            return {"n": 0, "p50": None, "p99": None}
        a = np.asarray(xs)
        return {
            "n": len(a),
            "p50": round(float(np.percentile(a, 50)), 2),
            "p99": round(float(np.percentile(a, 99)), 2),
        }

    def summary(self) -> dict[str, dict[str, float | int | None]]:
        return {"online": self._summary(self.online), "offline": self._summary(self.offline)}


def make_barrier(cfg: AgentConfig) -> Barrier:
    b = cfg.barrier
    if b.driver == "http_relay":
        assert b.url is not None
        return HttpRelayBarrier(b.url, close_url=b.close_url, method=b.method, open_ms=b.open_ms, timeout_s=b.timeout_s)
    return SimulatedBarrier(b.open_ms, b.state_file)


class GateAgent:
    def __init__(
        self,
        cfg: AgentConfig,
        *,
        reader: Reader | None = None,
        source: FrameSource | None = None,
        barrier: Barrier | None = None,
    ) -> None:
        self.cfg = cfg
        self.kind = cfg.lane.direction
        self.store = EventStore(cfg.queue.path)
        self.uplink = Uplink(cfg.lane.server_url, cfg.lane.token)
        self.reader = reader if reader is not None else make_reader(cfg.reader.engine, cfg.reader.threads)
        self.source = source if source is not None else self._make_source()
        self.barrier = barrier if barrier is not None else make_barrier(cfg)
        self.display = KioskDisplay(cfg.lane.lane_code)
        self.splitter = VehicleSplitter(
            cfg.reader.fusion_window_s, isinstance(self.reader, OcrReader), accept=cfg.reader.accept_threshold
        )
        self.latency = LatencyStats()
        self.stop = threading.Event()
        self.offline = False
        self.cache = self._load_cache()
        self.last_read: dict[str, Any] | None = None
        self.vehicles = 0
        self._inflight: set[str] = set()
        self._inflight_lock = threading.Lock()
        self._wake_sender = threading.Event()
        self._waiters: dict[str, threading.Event] = {}
        self._threads: list[threading.Thread] = []
        self.source_done = threading.Event()

    def _make_source(self) -> FrameSource:
        c = self.cfg.camera
        src = make_source(
            c.source,
            fps=c.fps,
            loop=c.loop,
            order_seed=c.order_seed,
            offset_s=c.offset_s,
            labels=c.labels,
            reconnect_max_s=c.reconnect_max_s,
        )
        if isinstance(src, FolderSource):
            saved = self.store.kv_get(src.cursor_key)
            if saved is not None:
                # Resume after the last vehicle that was persisted: none read twice, none skipped.
                src.position = int(saved) + 1
                log.info("replay_resumed", position=src.position)
        return src

    def _load_cache(self) -> LaneCache:
        raw = self.store.kv_get("lane_cache")
        return LaneCache.from_json(json.loads(raw)) if raw else LaneCache()

    # -- lifecycle ------------------------------------------------------------------------

    def start_background(self) -> None:
        if self.cfg.display.enabled:
            port = self.display.start(self.cfg.display.host, self.cfg.display.port)
            log.info("kiosk_started", url=f"http://{self.cfg.display.host}:{port}/")
        for name, target in (
            ("sender", self._sender_loop),
            ("heartbeat", self._heartbeat_loop),
            ("cache", self._cache_loop),
            ("commands", self._commands_loop),
        ):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def run(self) -> None:
        """Blocks until ``stop`` is set. The pipeline ends when a non-looping source ends;
        the queue keeps draining and heartbeats keep going until the process is stopped."""
        self.start_background()
        log.info("lane_started", lane=self.cfg.lane.lane_code, direction=self.kind, queue_depth=self.store.depth())
        try:
            self.pipeline()
            self.source_done.set()
            log.info("source_ended")
            self.stop.wait()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        self.stop.set()
        self._wake_sender.set()
        self.uplink.abort_stream()
        for t in self._threads:
            # The commands reader may sit in a long read with nothing to say; it is a daemon
            # thread that ignores messages once stopped, so it is not waited for.
            t.join(timeout=0.3 if t.name == "commands" else 3)
        self.display.stop()
        self.source.close()
        self.barrier.close()
        self.uplink.close()
        self.store.close()

    # -- pipeline -------------------------------------------------------------------------

    def pipeline(self) -> None:
        for frame in self.source.frames(self.stop):
            self.process_frame(frame)
        for read in self.splitter.flush(time.monotonic() + 1e6):
            self._vehicle(None, read)

    def process_frame(self, frame: Frame) -> None:
        try:
            if isinstance(self.reader, OcrReader):
                raw = self.reader.raw(frame)
                reads = [r for x in raw if (r := _read_from(x)) is not None]
            else:
                raw, reads = None, self.reader.read(frame)
        except Exception:
            # One bad frame must not stop the lane.
            log.exception("reader_failed", frame=frame.name)
            return
        vehicles = self.splitter.add(frame, reads, raw)
        if not vehicles and frame.cursor is not None:
            self.store.kv_set(*_cursor_kv(frame.cursor))
        for read in vehicles:
            self._vehicle(frame, read)

    def _vehicle_class(self, read: Read) -> str | None:
        vc = self.cfg.lane.vehicle_class
        if vc != "auto":
            return vc
        if read.kind is None:
            return None
        return "motorbike" if "moto" in read.kind else "car_small"

    @contextmanager
    def _hold(self, event_id: str) -> Iterator[None]:
        """Keeps the sender thread off an event the pipeline is still deciding."""
        with self._inflight_lock:
            self._inflight.add(event_id)
        try:
            yield
        finally:
            with self._inflight_lock:
                self._inflight.discard(event_id)
            self._wake_sender.set()

    def _vehicle(self, frame: Frame | None, read: Read) -> None:
        mono = frame.mono if frame is not None else time.monotonic()
        self.last_read = {
            "plate": read.plate_display,
            "confidence": round(read.confidence, 3),
            "at": (frame.captured_at if frame is not None else _now()).isoformat(),
        }
        # An unreadable plate is never "the same vehicle" as another unreadable one.
        if (
            read.plate_norm
            and self.cfg.reader.dedup_window_s > 0
            and self.store.seen_recently(read.plate_norm, self.kind, self.cfg.reader.dedup_window_s)
        ):
            log.info("same_vehicle_skipped", plate=read.plate_display)
            if frame is not None and frame.cursor is not None:
                self.store.kv_set(*_cursor_kv(frame.cursor))
            return
        event_id = mint_event_id()
        body: dict[str, Any] = {
            "event_id": event_id,
            "kind": self.kind,
            "plate": read.plate_display,
            "confidence": round(max(0.0, min(1.0, read.confidence)), 4),
            "captured_at": (frame.captured_at if frame is not None else _now()).isoformat(),
            "offline_action": None,
        }
        vc = self._vehicle_class(read)
        if vc:
            body["vehicle_class"] = vc
        if read.confidence < self.cfg.reader.accept_threshold and read.crop_jpeg:
            if len(read.crop_jpeg) <= MAX_IMAGE_BYTES:
                body["image_jpeg_b64"] = base64.b64encode(read.crop_jpeg).decode("ascii")
        self.vehicles += 1
        with self._hold(event_id):
            # Persisted (and synced) before any send and before the barrier moves.
            self.store.enqueue(body, read.plate_norm, frame.cursor if frame is not None else None)
            resp: dict[str, Any] | None = None
            if not self.offline:
                try:
                    resp = self.uplink.post_event(body, timeout=self.cfg.lane.decision_timeout_s)
                except Rejected as exc:
                    self.store.reject(event_id, str(exc))
                    log.error("event_rejected", event_id=event_id, error=str(exc))
                    self.display.show(
                        title="Vui lòng chờ nhân viên / Please wait for the attendant",
                        lines=[read.plate_display],
                        kind="attendant",
                        plate=read.plate_display,
                    )
                    return
                except Retryable as exc:
                    log.warning("server_unreachable", event_id=event_id, error=str(exc), link_down=exc.link_down)
                    if exc.link_down:
                        self._set_offline(True)
                    # else: the server answered, with an error about this event: decide it locally, keep the
                    # lane online for the next vehicle, and resend this one (unchanged) later.
                    self.store.retry_later(event_id, str(exc), backoff_s(0, max_s=self.cfg.queue.max_backoff_s))
            if resp is not None:
                self.store.ack(event_id, resp)
                self._set_offline(False)
                self._act_online(resp, read, mono, event_id)
            else:
                self._act_offline(read, mono, event_id)

    def _open(self, reason: str, event_id: str | None, mono: float | None, online: bool) -> bool:
        try:
            self.barrier.open(reason, event_id)
        except BarrierError as exc:
            log.error("barrier_failed", error=str(exc), event_id=event_id)
            self.display.show(
                title="Vui lòng chờ nhân viên / Please wait for the attendant",
                lines=["Barrier fault"],
                kind="attendant",
            )
            return False
        if mono is not None:
            ms = (time.monotonic() - mono) * 1000
            (self.latency.online if online else self.latency.offline).append(ms)
        return True

    def _act_online(self, resp: dict[str, Any], read: Read, mono: float, event_id: str) -> None:
        action = resp.get("action")
        disp = resp.get("display") or {}
        title = str(disp.get("title") or "")
        lines = [str(x) for x in disp.get("lines") or []]
        fee = resp.get("fee_vnd")
        # "Plate not read" must not sit under a plate in large type: show no plate when the server could not
        # use the read.
        plate = None if "plate_unreadable" in (resp.get("flags") or []) else read.plate_display
        log.info("decision", event_id=event_id, plate=read.plate_display, action=action, source="server")
        if action == "open":
            self.display.show(
                title=title,
                lines=lines,
                kind="open",
                plate=plate,
                fee_vnd=fee,
                receipt_url=resp.get("receipt_url"),
            )
            self._open("server", event_id, mono, online=True)
        elif action == "pay":
            payment = resp.get("payment") or {}
            self.display.show(
                title=title,
                lines=lines,
                kind="pay",
                plate=plate,
                fee_vnd=payment.get("amount_vnd", fee),
                qr_payload=payment.get("qr_payload"),
            )
            session_id = resp.get("session_id")
            # The lot's wait, never longer than this lane's own limit: no car holds the lane for minutes.
            wait_s = min(float(payment.get("lane_wait_s") or self.cfg.lane.pay_timeout_s), self.cfg.lane.pay_timeout_s)
            if session_id and self._wait_for_payment(str(session_id), wait_s):
                self.display.show(
                    title="Cảm ơn / Thank you",
                    # Not the pay screen's lines: those ask to scan the VietQR, which is done.
                    lines=["Đã nhận thanh toán / Payment received", "Mời xe ra / Please drive out"],
                    kind="open",
                    plate=plate,
                    receipt_url=self._receipt_for(str(session_id)),
                )
                self._open("payment_confirmed", event_id, None, online=True)
                # Keep the thank-you and receipt QR up while the barrier is open: the driver who just paid
                # scans it now, and the next vehicle cannot pass before the barrier closes anyway.
                self.stop.wait(self.cfg.barrier.open_ms / 1000)
            elif session_id and payment.get("on_timeout") == "debt":
                self._release_unpaid(str(session_id), event_id, plate)
            else:
                self.display.show(
                    title="Vui lòng chờ nhân viên / Please wait for the attendant",
                    lines=["Chưa nhận được thanh toán / Payment not received"],
                    kind="attendant",
                    plate=plate,
                )
        else:
            kind = "refuse" if action == "refuse" else "attendant"
            self.display.show(title=title, lines=lines, kind=kind, plate=plate, fee_vnd=fee)

    def _act_offline(self, read: Read, mono: float, event_id: str) -> None:
        d = decide_offline(
            kind=self.kind,
            plate_norm=read.plate_norm,
            plate_display=read.plate_display,
            confidence=read.confidence,
            min_confidence=self.cfg.reader.accept_threshold,
            vehicle_class=self._vehicle_class(read),
            cache=self.cache,
        )
        log.info(
            "decision",
            event_id=event_id,
            plate=read.plate_display,
            action=d.action,
            flags=d.flags,
            source="local",
        )
        if d.action == "open":
            # Recorded as "opened" before the barrier moves, so the server records, not decides.
            self.store.mark_opened_offline(event_id, list(d.flags))
            self.display.show(title=d.title, lines=d.lines, kind="open", plate=read.plate_display)
            self._open("offline", event_id, mono, online=False)
        else:
            self.store.mark_local(event_id, d.action, list(d.flags))
            self.display.show(title=d.title, lines=d.lines, kind="attendant", plate=read.plate_display)

    def _receipt_for(self, session_id: str) -> str | None:
        """The e-invoice link of a just-paid session (the server issues it with the payment)."""
        try:
            url = self.uplink.get_session(session_id).get("receipt_url")
        except (Retryable, Rejected):
            return None
        return str(url) if url else None

    def _release_unpaid(self, session_id: str, event_id: str, plate: str | None) -> None:
        """The lot's policy: after its wait an unpaid car leaves and the fee becomes a debt, payable later.
        The server is told; if it cannot be reached now, the QR's own expiry turns the fee into a debt."""
        try:
            self.uplink.left_unpaid(session_id)
        except (Retryable, Rejected) as exc:
            log.warning("left_unpaid_not_reported", session_id=session_id, error=str(exc))
        self.display.show(
            title="Mời xe ra / Please drive out",
            lines=[
                "Phí được ghi nợ, thanh toán sau qua ứng dụng",
                "The fee is recorded as a debt: pay later in the app",
            ],
            kind="open",
            plate=plate,
        )
        self._open("left_unpaid", event_id, None, online=True)

    def _wait_for_payment(self, session_id: str, timeout_s: float | None = None) -> bool:
        """Wait for the server's "open" command for this session; poll the session every
        ``session_poll_s`` as a fallback; give up after ``timeout_s`` (default ``pay_timeout_s``)."""
        ev = threading.Event()
        self._waiters[session_id] = ev
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else self.cfg.lane.pay_timeout_s)
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                if ev.wait(min(self.cfg.lane.session_poll_s, max(0.0, deadline - time.monotonic()))):
                    return True
                try:
                    s = self.uplink.get_session(session_id)
                except (Retryable, Rejected):
                    continue
                if s.get("payment_status") in PAID_STATUSES or s.get("action") == "open":
                    return True
            return False
        finally:
            self._waiters.pop(session_id, None)

    # -- background -----------------------------------------------------------------------

    def _set_offline(self, offline: bool) -> None:
        if offline == self.offline:
            return
        self.offline = offline
        self.display.set_offline(offline)
        log.warning("link_state", offline=offline, queue_depth=self.store.depth())
        if not offline:
            # Link is back: replay everything now instead of waiting out each backoff.
            self.store.retry_all_now()
            self._wake_sender.set()

    def _sender_loop(self) -> None:
        while not self.stop.is_set():
            self._wake_sender.clear()
            for ev in self.store.due():
                if self.stop.is_set():
                    return
                with self._inflight_lock:
                    if ev.event_id in self._inflight:
                        continue
                try:
                    resp = self.uplink.post_event(ev.body)
                except Rejected as exc:
                    self.store.reject(ev.event_id, str(exc))
                    log.error("event_rejected", event_id=ev.event_id, error=str(exc))
                    continue
                except Retryable as exc:
                    self.store.retry_later(
                        ev.event_id, str(exc), backoff_s(ev.attempts, max_s=self.cfg.queue.max_backoff_s)
                    )
                    if not exc.link_down:
                        continue  # an error about this event only: the others may go through
                    self._set_offline(True)
                    break  # the link is down: the rest would fail the same way
                # An old event's answer is recorded, not acted on: that car has long gone.
                self.store.ack(ev.event_id, resp)
                log.info(
                    "event_delivered",
                    event_id=ev.event_id,
                    replayed=resp.get("replayed"),
                    attempts=ev.attempts + 1,
                )
                self._set_offline(False)
            self._send_outcomes()
            self._wake_sender.wait(0.5)

    def _send_outcomes(self) -> None:
        """Report what the lane did on its own for events the server now holds (the event body is never
        rewritten: the outcome is its own request, idempotent on the event id)."""
        for event_id, action, attempts, flags in self.store.due_outcomes():
            if self.stop.is_set():
                return
            try:
                resp = self.uplink.post_outcome(event_id, {"outcome": action, "flags": flags})
            except Rejected as exc:
                self.store.outcome_rejected(event_id, str(exc))
                log.error("outcome_rejected", event_id=event_id, error=str(exc))
                continue
            except Retryable as exc:
                self.store.outcome_retry_later(
                    event_id, str(exc), backoff_s(attempts, max_s=self.cfg.queue.max_backoff_s)
                )
                if exc.link_down:
                    self._set_offline(True)
                    return
                continue
            self.store.outcome_sent(event_id)
            log.info("outcome_delivered", event_id=event_id, replayed=resp.get("replayed"), flags=resp.get("flags"))
            self._set_offline(False)

    def heartbeat_payload(self) -> dict[str, Any]:
        st = self.source.stats
        return {
            "fps": st.fps(),
            "frames_ok": st.frames_ok,
            "frames_bad": st.frames_bad,
            "camera_ok": st.camera_ok,
            "camera_error": st.camera_error,
            "last_read": self.last_read,
            **self.store.stats(),  # queue_depth, dead_letters, outcomes_pending
            "offline": self.offline,
            "agent_version": AGENT_VERSION,
            "latency_ms": self.latency.summary(),
        }

    def _heartbeat_loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.uplink.heartbeat(self.heartbeat_payload())
                self._set_offline(False)
            except Retryable as exc:
                log.warning("heartbeat_failed", error=str(exc))
                self._set_offline(True)
            except Rejected as exc:
                log.error("heartbeat_rejected", error=str(exc))
            self.stop.wait(self.cfg.heartbeat.interval_s)

    def _cache_loop(self) -> None:
        while not self.stop.is_set():
            try:
                data = self.uplink.get_cache()
                self.cache = LaneCache.from_json(data)
                self.store.kv_set("lane_cache", json.dumps(data))
            except (Retryable, Rejected) as exc:
                log.info("cache_refresh_failed", error=str(exc))
            self.stop.wait(self.cfg.lane.cache_refresh_s)

    def _commands_loop(self) -> None:
        attempts = 0
        while not self.stop.is_set():
            try:
                for msg in self.uplink.commands(self.stop):
                    attempts = 0
                    self._command(msg)
            except (Retryable, Rejected, OSError) as exc:
                log.info("commands_stream_down", error=str(exc))
            except Exception as exc:  # httpx stream errors mid-read
                log.info("commands_stream_down", error=f"{type(exc).__name__}: {exc}")
            attempts += 1
            self.stop.wait(backoff_s(attempts, max_s=30))

    def _command(self, msg: dict[str, Any]) -> None:
        if self.stop.is_set():
            return
        kind = msg.get("type")
        if kind == "open":
            sid = msg.get("session_id")
            waiter = self._waiters.get(str(sid)) if sid else None
            log.info("command_open", session_id=sid, reason=msg.get("reason"))
            if waiter is not None:
                waiter.set()  # the pipeline opens, so the display and barrier stay in order
            else:
                self._open(str(msg.get("reason") or "operator"), None, None, online=True)
        elif kind == "display":
            d = msg.get("display") or {}
            self.display.show(title=str(d.get("title", "")), lines=[str(x) for x in d.get("lines", [])])


def _cursor_kv(cursor: tuple[str, int]) -> tuple[str, str]:
    return cursor[0], str(cursor[1])


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
