"""Kiosk display: a small local web page the kiosk's browser shows.

The page polls ``/state.json`` twice a second (simpler than SSE and survives the kiosk
browser's reconnect quirks) and shows the plate read, fee, the payment QR (VietQR payload
rendered as SVG by segno), thank-you / call-the-attendant, and an OFFLINE banner.
"""

from __future__ import annotations

import asyncio
import io
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import segno
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route


@dataclass
class DisplayState:
    lane_code: str = ""
    title: str = "Xin chào / Welcome"
    lines: list[str] = field(default_factory=list)
    plate: str | None = None
    fee_vnd: int | None = None
    qr_payload: str | None = None
    receipt_url: str | None = None  # e-invoice lookup link ("always a receipt"), shown as a QR after payment
    kind: str = "idle"  # idle | open | pay | attendant | refuse | info
    offline: bool = False
    version: int = 0
    updated_at: str = ""


class KioskDisplay:
    def __init__(self, lane_code: str) -> None:
        self._state = DisplayState(lane_code=lane_code)
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    # -- state ----------------------------------------------------------------------------

    def show(
        self,
        *,
        title: str,
        lines: list[str] | tuple[str, ...] = (),
        kind: str = "info",
        plate: str | None = None,
        fee_vnd: int | None = None,
        qr_payload: str | None = None,
        receipt_url: str | None = None,
    ) -> None:
        with self._lock:
            s = self._state
            s.title, s.lines, s.kind, s.plate, s.fee_vnd, s.qr_payload, s.receipt_url = (
                title,
                list(lines),
                kind,
                plate,
                fee_vnd,
                qr_payload,
                receipt_url,
            )
            self._bump()

    def set_offline(self, offline: bool) -> None:
        with self._lock:
            if self._state.offline != offline:
                self._state.offline = offline
                self._bump()

    def _bump(self) -> None:
        self._state.version += 1
        self._state.updated_at = datetime.now(UTC).isoformat()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return asdict(self._state)

    # -- web page -------------------------------------------------------------------------

    def app(self) -> Starlette:
        async def index(_: Request) -> HTMLResponse:
            return HTMLResponse(PAGE)

        async def state(_: Request) -> JSONResponse:
            return JSONResponse(self.snapshot())

        def svg(payload: str | None) -> Response:
            if not payload:
                return Response(status_code=404)
            buf = io.BytesIO()
            segno.make(payload, error="m").save(buf, kind="svg", scale=8, border=2)
            return Response(buf.getvalue(), media_type="image/svg+xml")

        async def qr(_: Request) -> Response:
            return svg(self.snapshot()["qr_payload"])

        async def receipt_qr(_: Request) -> Response:
            return svg(self.snapshot()["receipt_url"])

        return Starlette(
            routes=[
                Route("/", index),
                Route("/state.json", state),
                Route("/qr.svg", qr),
                Route("/receipt.svg", receipt_qr),
            ]
        )

    def start(self, host: str, port: int) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app(), log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        server = self._server

        def run() -> None:
            asyncio.run(server.serve(sockets=[sock]))

        self._thread = threading.Thread(target=run, name="kiosk", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 5
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)


PAGE = r"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Lane</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#0b1f33;color:#fff;text-align:center}
#offline{display:none;background:#c62828;padding:.6em;font-weight:700;font-size:1.4em}
#plate{font-size:4em;font-weight:800;letter-spacing:.05em;margin:.4em 0 .1em}
#title{font-size:2.2em;margin:.3em}
#lines div{font-size:1.5em;margin:.2em}
#fee{font-size:2.4em;color:#ffd54f}
#qr{background:#fff;padding:10px;border-radius:8px;margin-top:.5em;width:320px;display:none}
.attendant #title,.refuse #title{color:#ff8a80}.open #title{color:#a5d6a7}
#lane{position:fixed;bottom:4px;right:8px;opacity:.5}
</style></head>
<body><div id="offline">MẤT KẾT NỐI / OFFLINE &mdash; lane working from local cache</div>
<div id="main"><div id="plate"></div><div id="title"></div><div id="lines"></div>
<div id="fee"></div><img id="qr" alt="QR">
<div id="receipt" style="display:none"><div>Hóa đơn điện tử / Your e-invoice</div>
<img id="rqr" alt="receipt QR" style="background:#fff;padding:6px;border-radius:6px;width:160px">
<div><a id="rlink" style="color:#90caf9;font-size:.7em"></a></div></div></div><div id="lane"></div>
<script>
let v=-1;
async function tick(){
  try{
    const s=await (await fetch('state.json',{cache:'no-store'})).json();
    if(s.version!==v){v=s.version;
      document.getElementById('offline').style.display=s.offline?'block':'none';
      document.getElementById('main').className=s.kind;
      document.getElementById('plate').textContent=s.plate||'';
      document.getElementById('title').textContent=s.title;
      document.getElementById('lines').innerHTML='';
      // The server's lines also serve text-only displays: skip what this page already shows big.
      const digits=x=>String(x).replace(/[^0-9]/g,'');
      for(const l of s.lines){
        if((s.plate&&l===s.plate)||(s.fee_vnd!=null&&/^[0-9.,\s]+(đ|₫|VND)?$/.test(l)&&digits(l)===String(s.fee_vnd)))continue;
        const d=document.createElement('div');d.textContent=l;
        document.getElementById('lines').appendChild(d);}
      document.getElementById('fee').textContent=s.fee_vnd!=null?
        s.fee_vnd.toLocaleString('vi-VN')+' ₫':'';
      const q=document.getElementById('qr');
      if(s.qr_payload){q.src='qr.svg?v='+s.version;q.style.display='inline-block';}
      else{q.style.display='none';}
      const r=document.getElementById('receipt');
      if(s.receipt_url&&!s.qr_payload){document.getElementById('rqr').src='receipt.svg?v='+s.version;
        const a=document.getElementById('rlink');a.href=s.receipt_url;a.textContent=s.receipt_url;
        r.style.display='block';}else{r.style.display='none';}
      document.getElementById('lane').textContent=s.lane_code;}
  }catch(e){}
  setTimeout(tick,500);
}
tick();
</script></body></html>
"""
