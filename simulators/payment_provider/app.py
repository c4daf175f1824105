"""A payment provider + bank simulator, served over real HTTP.

It plays three roles real parties play for us:
  * a wallet/bank that holds linked accounts and charges them (`POST /charges`, Idempotency-Key);
  * a payer's bank app that pays a VietQR (`POST /vietqr/pay`) and the aggregator/gateway that then
    notifies us: SePay-style bank-transfer webhook and/or VNPAY-style IPN, both signed;
  * a misbehaving provider on demand (`POST /_faults`): time out after charging, answer 500, notify
    twice, late, or out of order.
`GET /_ledger` tells tests what was really charged. State is in memory: one process = one world.

It deliberately does not import `parking`: its VietQR parser is its own, so a bug in our encoder
cannot be hidden by the same bug in the fake.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import random
import secrets
import tempfile
import urllib.parse
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Header, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from simulators.payment_provider import statements as S
from simulators.payment_provider.statements import FILE_FAULTS

FAULT_MODES = (
    "timeout_after_charge",
    "http_500",
    "duplicate_notification",
    "late_notification",
    "out_of_order",
    "lost_notification",  # the payer paid, the bank credited us, and no notification ever arrives
)
# Faults of the next morning's files (statements.FILE_FAULTS): each taken by the next payment that can carry it.
BANK_FILE_FAULTS = frozenset(FILE_FAULTS) - {"settled_next_day", "static_qr", "transfer_late"}
GATEWAY_FILE_FAULTS = frozenset(
    {"missing_credit", "duplicate_credit", "underpaid", "overpaid", "x100", "settled_next_day", "refund_reversal"}
)
VN_OFFSET = timedelta(hours=7)  # bank timestamps are Hanoi local time (UTC+7, no DST)


@dataclass
class SimConfig:
    secret: str = "dev-provider-secret"
    webhook_url: str | None = None  # base URL of the parking API; paths are appended
    bank_bin: str = "970436"
    account: str = "0011001234567"
    timeout_hang_s: float = 30.0  # how long "timeout_after_charge" keeps the caller waiting
    late_delay_s: float = 2.0
    webhook_attempts: int = 3
    preload: dict[str, int] = field(default_factory=dict)  # token -> balance, e.g. the demo driver's wallet
    # SePay authenticates a webhook with the one method chosen for it: "apikey" or "hmac".
    sepay_auth: str = "hmac"


@dataclass
class Account:
    token: str
    owner: str
    kind: str
    balance_vnd: int


@dataclass
class Charge:
    id: str
    idempotency_key: str
    token: str
    amount_vnd: int
    status: str  # succeeded | declined
    decline_code: str | None
    body_hash: str
    created_at: str
    refunded_vnd: int = 0


@dataclass
class QrPayment:
    id: str
    channel: str
    reference: str | None
    amount_vnd: int
    sepay_id: int
    vnpay_txn_no: str
    created_at: str
    # The bank's own reference of the transfer (e.g. Vietcombank "FT..."): both notifiers report the same
    # transfer, SePay as `referenceCode`, VNPAY as `vnp_BankTranNo`; each has its own notification id.
    bank_ref: str = ""


@dataclass
class Notification:
    channel: str
    method: str
    path: str
    headers: dict[str, str]
    body: str = ""
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    accounts: dict[str, Account] = field(default_factory=dict)
    charges: dict[str, Charge] = field(default_factory=dict)  # by idempotency key
    qr_payments: list[QrPayment] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)
    held: list[Notification] = field(default_factory=list)  # out_of_order: delivered after the next one
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0
    file_faults: dict[str, int] = field(default_factory=dict)  # pending counts of FILE_FAULTS
    assigned: dict[str, str] = field(default_factory=dict)  # txn id -> the file fault it carries
    static_qr: list[tuple[int, datetime]] = field(default_factory=list)
    transfer_late: set[str] = field(default_factory=set)  # local days (ISO) whose transfer is late
    # A real provider never reuses a transaction id, not even after a restart: ids carry a random 40-bit
    # prefix drawn at start (a restart reusing ids made the demo see a new payment as a duplicate).
    epoch: int = field(default_factory=lambda: secrets.randbits(40))


class NewAccount(BaseModel):
    owner: str
    kind: str = Field("ewallet", pattern="^(ewallet|bank_account)$")
    balance_vnd: int = Field(1_000_000, ge=0)


class ChargeIn(BaseModel):
    token: str
    amount_vnd: int = Field(gt=0)
    description: str = ""


class RefundIn(BaseModel):
    provider_txn_id: str
    amount_vnd: int = Field(gt=0)
    reason: str = ""


class PayQrIn(BaseModel):
    qr_payload: str
    channel: str = Field("sepay", pattern="^(sepay|vnpay|both)$")
    amount_vnd: int | None = Field(None, gt=0)  # override: the payer typed another amount
    payer_name: str = "NGUYEN VAN A"
    deliver: bool = True  # False: return the signed notifications instead of sending them


class FaultIn(BaseModel):
    mode: str
    count: int = Field(1, ge=0)


class FileFaultIn(BaseModel):
    mode: str
    count: int = Field(1, ge=0)
    amount_vnd: int = Field(12_000, gt=0)  # static_qr: what the payer typed


class AssignFaultsIn(BaseModel):
    day: date
    modes: list[str]


class WriteFilesIn(BaseModel):
    dir: str
    layout: str = "vietcombank"
    format: str = Field("csv", pattern="^(csv|xlsx)$")
    provider: str = "sim"
    # The files' cut-off (aware): what the simulator served before it, as a bank export taken at that moment
    # once those transfers are booked. None: everything served that day (the next morning's files).
    until: datetime | None = None


# ------------------------------------------------------------------ VietQR (independent parser)


def _crc(data: bytes) -> int:
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def _tlv(data: str) -> dict[str, str]:
    out, i = {}, 0
    while i + 4 <= len(data):
        n = int(data[i + 2 : i + 4])
        out[data[i : i + 2]] = data[i + 4 : i + 4 + n]
        i += 4 + n
    if i != len(data):
        raise ValueError("malformed TLV")
    return out


def parse_qr(payload: str) -> dict[str, Any]:
    if payload[-8:-4] != "6304" or f"{_crc(payload[:-4].encode()):04X}" != payload[-4:]:
        raise ValueError("bad CRC")
    root = _tlv(payload[:-8])
    mai = _tlv(root["38"])
    ben = _tlv(mai["01"])
    add = _tlv(root["62"]) if "62" in root else {}
    return {
        "guid": mai.get("00"),
        "bin": ben.get("00"),
        "account": ben.get("01"),
        "service": mai.get("02"),
        "amount": int(root["54"]) if "54" in root else None,
        "reference": add.get("08"),
    }


# ------------------------------------------------------------------ signing (as the real parties do)


def sepay_headers(secret: str, body: bytes, mode: str = "hmac") -> dict[str, str]:
    """What SePay sends for the webhook's one authentication method (developer.sepay.vn, "Xác thực")."""
    if mode == "apikey":
        return {"Authorization": f"Apikey {secret}", "Content-Type": "application/json"}
    ts = str(int(datetime.now(UTC).timestamp()))
    sig = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-SePay-Timestamp": ts, "X-SePay-Signature": sig, "Content-Type": "application/json"}


def vnpay_sign(secret: str, params: dict[str, str]) -> str:
    """As VNPAY signs: non-empty fields sorted by name, values form-url-encoded the Java URLEncoder way."""
    items = sorted((k, v) for k, v in params.items() if k not in ("vnp_SecureHash", "vnp_SecureHashType") and v)
    data = "&".join(f"{k}={urllib.parse.quote_plus(v, safe='*').replace('~', '%7E')}" for k, v in items)
    return hmac.new(secret.encode(), data.encode(), hashlib.sha512).hexdigest()


def bank_mangle(reference: str | None, rng: random.Random) -> str:
    """Content as a bank delivers it: its own prefix, punctuation dropped, upper-cased."""
    ref = (reference or "").upper().replace("-", "").replace(" ", "")
    prefix = f"MBVCB.{rng.randrange(10**9, 10**10)}.{rng.randrange(10**5, 10**6)}"
    return f"{prefix}.{ref} CT tu 0351000646393 NGUYEN VAN A toi 1018795282"


def create_app(cfg: SimConfig | None = None) -> FastAPI:
    cfg = cfg or SimConfig()
    app = FastAPI(title="payment-provider-simulator")
    world = World()
    for token, balance in cfg.preload.items():
        world.accounts[token] = Account(token, "preloaded", "ewallet", balance)
    lock = asyncio.Lock()
    tasks: set[asyncio.Task[None]] = set()
    in_flight: dict[str, datetime] = {}  # QR payment id -> when it was served, while its notifications travel

    def _delivered(key: str, _task: asyncio.Task[None]) -> None:
        in_flight.pop(key, None)

    rng = random.Random()
    app.state.world = world
    app.state.config = cfg

    def take_fault(mode: str) -> bool:
        left = world.faults.get(mode, 0)
        if left > 0:
            world.faults[mode] = left - 1
            return True
        return False

    def take_file_fault(txn_id: str, allowed: frozenset[str]) -> None:
        for mode in FILE_FAULTS:
            if mode in allowed and world.file_faults.get(mode, 0) > 0:
                world.file_faults[mode] -= 1
                world.assigned[txn_id] = mode
                return

    def authorised(auth: str | None) -> bool:
        return auth is not None and hmac.compare_digest(auth.encode(), f"Bearer {cfg.secret}".encode())

    def err(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/accounts", status_code=201)
    async def new_account(body: NewAccount) -> dict[str, Any]:
        token = ("bnk_" if body.kind == "bank_account" else "ewl_") + secrets.token_hex(12)
        world.accounts[token] = Account(token, body.owner, body.kind, body.balance_vnd)
        return asdict(world.accounts[token])

    @app.get("/accounts/{token}")
    async def get_account(token: str) -> Any:
        acct = world.accounts.get(token)
        return asdict(acct) if acct else err(404, "not_found", "no such account")

    @app.post("/charges")
    async def charge(
        body: ChargeIn, idempotency_key: str = Header(...), authorization: str | None = Header(None)
    ) -> Any:
        if not authorised(authorization):
            return err(401, "unauthorized", "bad API credentials")
        body_hash = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
        async with lock:
            existing = world.charges.get(idempotency_key)
            if existing is not None:
                if existing.body_hash != body_hash:
                    return err(409, "idempotency_conflict", "key reused with a different request")
                return _charge_response(existing)
            if take_fault("http_500"):
                return err(500, "internal_error", "simulated provider failure (nothing charged)")
            acct = world.accounts.get(body.token)
            world.seq += 1
            ch = Charge(
                id=f"ch_{world.epoch:x}{world.seq:06d}",
                idempotency_key=idempotency_key,
                token=body.token,
                amount_vnd=body.amount_vnd,
                status="succeeded",
                decline_code=None,
                body_hash=body_hash,
                created_at=datetime.now(UTC).isoformat(),
            )
            if acct is None:
                ch.status, ch.decline_code = "declined", "unknown_token"
            elif acct.balance_vnd < body.amount_vnd:
                ch.status, ch.decline_code = "declined", "insufficient_funds"
            else:
                acct.balance_vnd -= body.amount_vnd
            world.charges[idempotency_key] = ch
            if ch.status == "succeeded":
                take_file_fault(ch.id, GATEWAY_FILE_FAULTS)
            hang = ch.status == "succeeded" and take_fault("timeout_after_charge")
        if hang:
            # The money has moved; the caller just never hears about it in time.
            await asyncio.sleep(cfg.timeout_hang_s)
        return _charge_response(ch)

    def _charge_response(ch: Charge) -> JSONResponse:
        status = 201 if ch.status == "succeeded" else 402
        return JSONResponse(
            {
                "id": ch.id,
                "status": ch.status,
                "amount_vnd": ch.amount_vnd,
                "decline_code": ch.decline_code,
                "idempotency_key": ch.idempotency_key,
            },
            status_code=status,
        )

    @app.get("/charges/{idempotency_key}")
    async def get_charge(idempotency_key: str, authorization: str | None = Header(None)) -> Any:
        if not authorised(authorization):
            return err(401, "unauthorized", "bad API credentials")
        ch = world.charges.get(idempotency_key)
        return _charge_response(ch) if ch else err(404, "not_found", "no charge with this key")

    @app.post("/refunds")
    async def refund(
        body: RefundIn, idempotency_key: str = Header(...), authorization: str | None = Header(None)
    ) -> Any:
        if not authorised(authorization):
            return err(401, "unauthorized", "bad API credentials")
        async with lock:
            for r in world.refunds:
                if r["idempotency_key"] == idempotency_key:
                    return JSONResponse(r, status_code=201)
            ch = next((c for c in world.charges.values() if c.id == body.provider_txn_id), None)
            qr = next(
                (q for q in world.qr_payments if body.provider_txn_id in (str(q.sepay_id), q.vnpay_txn_no, q.id)),
                None,
            )
            if ch is None and qr is None:
                return err(404, "not_found", "no such transaction")
            if ch is not None:
                paid = ch.amount_vnd - ch.refunded_vnd
            else:
                assert qr is not None
                done = sum(r["amount_vnd"] for r in world.refunds if r["provider_txn_id"] == body.provider_txn_id)
                paid = qr.amount_vnd - done
            if body.amount_vnd > paid:
                return err(409, "refund_exceeds_payment", "refund larger than what remains")
            if ch is not None:
                ch.refunded_vnd += body.amount_vnd
                if ch.token in world.accounts:
                    world.accounts[ch.token].balance_vnd += body.amount_vnd
            world.seq += 1
            r = {
                "id": f"re_{world.epoch:x}{world.seq:06d}",
                "provider_txn_id": body.provider_txn_id,
                "amount_vnd": body.amount_vnd,
                "reason": body.reason,
                "idempotency_key": idempotency_key,
                "status": "succeeded",
            }
            world.refunds.append(r)
            return JSONResponse(r, status_code=201)

    # --------------------------------------------------------------- the payer and the notifier

    def build_notifications(qp: QrPayment, channel: str) -> list[Notification]:
        out: list[Notification] = []
        local = datetime.now(UTC) + VN_OFFSET
        if channel in ("sepay", "both"):
            data = {
                "id": qp.sepay_id,
                "gateway": "Vietcombank",
                "transactionDate": local.strftime("%Y-%m-%d %H:%M:%S"),
                "accountNumber": cfg.account,
                "subAccount": None,
                "code": None,
                "content": bank_mangle(qp.reference, rng),
                "transferType": "in",
                "transferAmount": qp.amount_vnd,
                "accumulated": 0,
                "referenceCode": qp.bank_ref,
                "description": "",
            }
            body = json.dumps(data)
            out.append(
                Notification(
                    "sepay",
                    "POST",
                    "/v1/payments/notify/sepay",
                    sepay_headers(cfg.secret, body.encode(), cfg.sepay_auth),
                    body=body,
                )
            )
        if channel in ("vnpay", "both"):
            params = {
                "vnp_TmnCode": "PARKSIM1",
                "vnp_Amount": str(qp.amount_vnd * 100),
                "vnp_BankCode": "NCB",
                "vnp_BankTranNo": qp.bank_ref,
                "vnp_CardType": "QRCODE",
                "vnp_OrderInfo": f"Thanh toan gui xe {qp.reference or ''}".strip(),
                "vnp_PayDate": local.strftime("%Y%m%d%H%M%S"),
                "vnp_ResponseCode": "00",
                "vnp_TransactionNo": qp.vnpay_txn_no,
                "vnp_TransactionStatus": "00",
                "vnp_TxnRef": qp.reference or qp.id,
            }
            params["vnp_SecureHashType"] = "HmacSHA512"
            params["vnp_SecureHash"] = vnpay_sign(cfg.secret, params)
            out.append(Notification("vnpay", "GET", "/v1/payments/notify/vnpay", {}, query=params))
        return out

    def apply_faults(batch: list[Notification]) -> tuple[list[Notification], float]:
        """Turn one payment's notifications into what the wire will actually carry."""
        if take_fault("lost_notification"):
            return [], 0.0
        delay = cfg.late_delay_s if take_fault("late_notification") else 0.0
        if take_fault("duplicate_notification"):
            batch = [n for n in batch for _ in range(2)]
        if take_fault("out_of_order"):
            world.held.extend(batch)  # delivered after the next payment's notifications
            return [], delay
        if world.held:
            batch, world.held = batch + world.held, []
        return batch, delay

    async def deliver(batch: list[Notification], delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        async with httpx.AsyncClient(timeout=10.0) as client:
            for n in batch:
                for attempt in range(cfg.webhook_attempts):  # real aggregators retry non-2xx
                    rec: dict[str, Any] = {
                        "channel": n.channel,
                        "attempt": attempt + 1,
                        "at": datetime.now(UTC).isoformat(),
                    }
                    try:
                        url = (cfg.webhook_url or "").rstrip("/") + n.path
                        if n.method == "POST":
                            r = await client.post(url, content=n.body.encode(), headers=n.headers)
                        else:
                            r = await client.get(url, params=n.query)
                        rec.update(status=r.status_code, response=r.text[:500])
                    except httpx.HTTPError as exc:
                        rec.update(status=None, response=f"{type(exc).__name__}: {exc}")
                    world.deliveries.append(rec)
                    if rec["status"] is not None and rec["status"] < 500:
                        break
                    await asyncio.sleep(0.2 * (attempt + 1))

    @app.post("/vietqr/pay")
    async def pay_qr(body: PayQrIn) -> Any:
        try:
            qr = parse_qr(body.qr_payload)
        except (ValueError, KeyError) as exc:
            return err(400, "bad_qr", f"the banking app cannot read this QR: {exc}")
        if qr["guid"] != "A000000727" or qr["bin"] != cfg.bank_bin or qr["account"] != cfg.account:
            return err(400, "unknown_beneficiary", "QR does not point at the simulated merchant account")
        amount = body.amount_vnd or qr["amount"]
        if not amount:
            return err(400, "amount_required", "static QR: the payer must type an amount")
        async with lock:
            world.seq += 1
            qp = QrPayment(
                id=f"qr_{world.epoch:x}{world.seq:06d}",
                channel=body.channel,
                reference=qr["reference"],
                amount_vnd=amount,
                sepay_id=world.epoch * 100_000 + world.seq,
                vnpay_txn_no=f"{world.epoch}{world.seq:05d}",
                created_at=datetime.now(UTC).isoformat(),
                bank_ref=f"FT{world.epoch % 10**10:010d}{world.seq:06d}",
            )
            world.qr_payments.append(qp)
            take_file_fault(qp.id, BANK_FILE_FAULTS if body.channel != "vnpay" else GATEWAY_FILE_FAULTS)
            batch, delay = apply_faults(build_notifications(qp, body.channel))
        result: dict[str, Any] = {"payment": asdict(qp)}
        if body.deliver and cfg.webhook_url:
            task = asyncio.create_task(deliver(batch, delay))
            tasks.add(task)
            in_flight[qp.id] = datetime.fromisoformat(qp.created_at)
            task.add_done_callback(tasks.discard)
            task.add_done_callback(functools.partial(_delivered, qp.id))
            result["delivery"] = {"scheduled": len(batch), "delay_s": delay}
        else:
            result["notifications"] = [asdict(n) for n in batch]
            result["delay_s"] = delay
        return JSONResponse(result, status_code=201)

    @app.post("/_flush")
    async def flush(deliver_now: bool = True) -> Any:
        """Release notifications held back by out_of_order (or return them when not delivering)."""
        batch, world.held = world.held, []
        if deliver_now and cfg.webhook_url:
            await deliver(batch, 0.0)
            return {"delivered": len(batch)}
        return {"notifications": [asdict(n) for n in batch]}

    # --------------------------------------------------------------- next morning's files

    def day_txns(day: date) -> list[S.DayTxn]:
        """Everything this simulator served on the local day, as the bank and the intermediary saw it."""
        refunded: dict[str, int] = {}
        for r in world.refunds:
            refunded[r["provider_txn_id"]] = refunded.get(r["provider_txn_id"], 0) + r["amount_vnd"]
        out: list[S.DayTxn] = []
        for q in world.qr_payments:
            at = datetime.fromisoformat(q.created_at)
            channel = "gateway" if q.channel == "vnpay" else "bank"
            tid = q.vnpay_txn_no if channel == "gateway" else str(q.sepay_id)
            back = sum(refunded.get(k, 0) for k in (str(q.sepay_id), q.vnpay_txn_no, q.id))
            out.append(S.DayTxn(q.id if channel == "bank" else tid, channel, q.reference, q.amount_vnd, at,
                                refunded_vnd=back))  # fmt: skip
        for c in world.charges.values():
            if c.status == "succeeded":
                out.append(S.DayTxn(c.id, "charge", None, c.amount_vnd, datetime.fromisoformat(c.created_at),
                                    refunded_vnd=c.refunded_vnd))  # fmt: skip
        start = datetime.combine(day, datetime.min.time(), S.VN)
        return sorted((t for t in out if start <= t.at < start + timedelta(days=1)), key=lambda t: t.at)

    def day_faults(day: date, txns: list[S.DayTxn]) -> S.DayFaults:
        per = {t.id: world.assigned[t.id] for t in txns if t.id in world.assigned}
        for q in world.qr_payments:  # gateway QR payments are keyed by their gateway id in the files
            if q.id in world.assigned and q.channel == "vnpay":
                per[q.vnpay_txn_no] = world.assigned[q.id]
        late = day.isoformat() in world.transfer_late
        return S.DayFaults(per_txn=per, static_qr=list(world.static_qr), transfer_late=late)

    def write_files(day: date, body: WriteFilesIn) -> dict[str, str]:
        folder = Path(body.dir)
        txns = [t for t in day_txns(day) if body.until is None or t.at < body.until]
        faults = day_faults(day, txns)
        if body.until is not None:
            faults.static_qr = [(a, at) for a, at in faults.static_qr if at < body.until]
        prev = day - timedelta(days=1)
        prev_txns = day_txns(prev)
        prev_faults = day_faults(prev, prev_txns)
        extra = [*S.late_rows(prev, prev_txns, prev_faults)]
        if prev_txns:
            rows = S.settlement_rows(prev, prev_txns, prev_faults, provider=body.provider)
            total = next(r.net for r in rows if r.kind == "Chuyển tiền")
            extra.append(S.transfer_row(S.batch_id(body.provider, prev), total, S.transfer_time(prev, prev_faults)))
        stmt = folder / f"statement-{body.layout}-{day}.{body.format}"
        S.write_statement(S.statement_rows(day, txns, faults, extra=extra), stmt, layout=body.layout, day=day,
                          account=cfg.account)  # fmt: skip
        sett = folder / f"settlement-{body.provider}-{day}.csv"
        S.write_settlement(S.settlement_rows(day, txns, faults, provider=body.provider), sett, provider=body.provider,
                           day=day)  # fmt: skip
        # What the bank has booked so far on the next day: credits of `day` that landed after midnight.
        nxt = folder / f"statement-{body.layout}-{day + timedelta(days=1)}.{body.format}"
        S.write_statement(S.statement_rows(day + timedelta(days=1), [], S.DayFaults(),
                                           extra=S.late_rows(day, txns, faults)),
                          nxt, layout=body.layout, day=day + timedelta(days=1), account=cfg.account)  # fmt: skip
        return {"statement": str(stmt), "settlement": str(sett), "next_day_statement": str(nxt)}

    @app.post("/reports/{day}/files")
    async def reports_to_disk(day: date, body: WriteFilesIn) -> Any:
        """Write the day's statement, settlement report and the next day's early statement to a folder."""
        if body.layout not in S.LAYOUTS:
            return err(422, "unknown_layout", f"layout must be one of {S.LAYOUTS}")
        return {"date": day.isoformat(), "files": write_files(day, body)}

    def _until(value: str | None) -> datetime | None:
        if value is None:
            return None
        at = datetime.fromisoformat(value)
        if at.tzinfo is None:
            raise ValueError("until must carry its time zone")
        return at

    @app.get("/reports/{day}/statement")
    async def statement_file(
        day: date, layout: str = "vietcombank", format: str = "csv", until: str | None = None
    ) -> Any:
        if layout not in S.LAYOUTS or format not in ("csv", "xlsx"):
            return err(422, "bad_request", f"layout in {S.LAYOUTS}, format csv|xlsx")
        try:
            cut = _until(until)
        except ValueError as exc:
            return err(422, "bad_request", f"until: {exc}")
        folder = Path(tempfile.mkdtemp(prefix="sim-reports-"))
        files = write_files(day, WriteFilesIn(dir=str(folder), layout=layout, format=format, until=cut))
        return FileResponse(files["statement"], filename=Path(files["statement"]).name)

    @app.get("/reports/{day}/settlement")
    async def settlement_file(day: date, provider: str = "sim", until: str | None = None) -> Any:
        try:
            cut = _until(until)
        except ValueError as exc:
            return err(422, "bad_request", f"until: {exc}")
        folder = Path(tempfile.mkdtemp(prefix="sim-reports-"))
        files = write_files(day, WriteFilesIn(dir=str(folder), provider=provider, until=cut))
        return FileResponse(files["settlement"], filename=Path(files["settlement"]).name)

    @app.post("/_file_faults")
    async def set_file_fault(body: FileFaultIn) -> Any:
        """Faults of the next morning's files; static_qr and transfer_late apply to today at once."""
        if body.mode not in FILE_FAULTS:
            return err(422, "unknown_mode", f"mode must be one of {FILE_FAULTS}")
        now = datetime.now(UTC)
        if body.mode == "static_qr":
            world.static_qr.extend((body.amount_vnd, now + timedelta(seconds=i)) for i in range(body.count))
        elif body.mode == "transfer_late":
            world.transfer_late.add((now + VN_OFFSET).date().isoformat())
        else:
            world.file_faults[body.mode] = world.file_faults.get(body.mode, 0) + body.count
        return {"file_faults": world.file_faults, "assigned": world.assigned}

    @app.post("/_file_faults/assign")
    async def assign_file_faults(body: AssignFaultsIn) -> Any:
        """Give each listed fault to one payment already served on that day (the demo's "inject now")."""
        txns = day_txns(body.day)
        qr_by_gateway = {q.vnpay_txn_no: q.id for q in world.qr_payments}
        taken = set(world.assigned) | {
            qr_by_gateway.get(t.id, "") for t in txns if qr_by_gateway.get(t.id) in world.assigned
        }
        out: dict[str, str] = {}
        for mode in body.modes:
            if mode not in FILE_FAULTS:
                return err(422, "unknown_mode", f"mode must be one of {FILE_FAULTS}")
            if mode in ("static_qr", "transfer_late"):
                await set_file_fault(FileFaultIn(mode=mode))
                out[mode] = "day"
                continue
            allowed = BANK_FILE_FAULTS if mode in BANK_FILE_FAULTS else GATEWAY_FILE_FAULTS
            for t in txns:
                key = qr_by_gateway.get(t.id, t.id)  # gateway QR payments are assigned by their QR id
                if key in taken or (not t.reference and t.channel == "bank"):
                    continue
                fits = (t.channel == "bank" and mode in BANK_FILE_FAULTS) or (
                    t.channel != "bank" and mode in GATEWAY_FILE_FAULTS
                )
                if fits and mode in allowed:
                    world.assigned[key] = mode
                    taken.add(key)
                    out[mode] = t.id
                    break
        return {"assigned": out}

    # --------------------------------------------------------------- control plane for tests

    @app.get("/_deliveries/pending")
    async def pending_deliveries(before: str | None = None) -> dict[str, int]:
        """Notifications still on their way (of payments served before `before`): a cut-off waits for them."""
        cut = _until(before)
        return {"pending": sum(1 for at in in_flight.values() if cut is None or at < cut)}

    @app.post("/_faults")
    async def set_fault(body: FaultIn) -> Any:
        if body.mode not in FAULT_MODES:
            return err(422, "unknown_mode", f"mode must be one of {FAULT_MODES}")
        world.faults[body.mode] = body.count
        return {"faults": world.faults}

    @app.delete("/_faults")
    async def clear_faults() -> dict[str, Any]:
        world.faults.clear()
        return {"faults": world.faults}

    @app.get("/_ledger")
    async def ledger() -> dict[str, Any]:
        ok = [c for c in world.charges.values() if c.status == "succeeded"]
        return {
            "accounts": {t: asdict(a) for t, a in world.accounts.items()},
            "charges": [asdict(c) for c in world.charges.values()],
            "qr_payments": [asdict(q) for q in world.qr_payments],
            "refunds": world.refunds,
            "deliveries": world.deliveries,
            "held": len(world.held),
            "totals": {
                "charged_vnd": sum(c.amount_vnd for c in ok),
                "charge_count": len(ok),
                "qr_paid_vnd": sum(q.amount_vnd for q in world.qr_payments),
                "refunded_vnd": sum(r["amount_vnd"] for r in world.refunds),
            },
        }

    @app.post("/_reset")
    async def reset() -> dict[str, str]:
        for part in (
            world.accounts,
            world.charges,
            world.qr_payments,
            world.refunds,
            world.faults,
            world.held,
            world.deliveries,
            world.file_faults,
            world.assigned,
            world.static_qr,
            world.transfer_late,
        ):
            part.clear()
        return {"status": "reset"}

    @app.post("/_config")
    async def configure(request: Request) -> dict[str, Any]:
        """Tests point the notifier at the API once it is listening, and shorten delays."""
        data = await request.json()
        for key in ("webhook_url", "timeout_hang_s", "late_delay_s", "webhook_attempts"):
            if key in data:
                setattr(cfg, key, data[key])
        return asdict(cfg) | {"secret": "***"}

    return app
