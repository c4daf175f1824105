from __future__ import annotations

import httpx

from gate_agent._display import KioskDisplay


def test_kiosk_page_state_and_qr() -> None:
    d = KioskDisplay("HN-01")
    port = d.start("127.0.0.1", 0)
    try:
        base = f"http://127.0.0.1:{port}"
        page = httpx.get(base + "/")
        assert page.status_code == 200 and "state.json" in page.text and "OFFLINE" in page.text
        assert httpx.get(base + "/qr.svg").status_code == 404  # nothing to pay
        d.show(
            title="Vui lòng thanh toán",
            lines=["30A-123.45"],
            kind="pay",
            plate="30A-123.45",
            fee_vnd=25000,
            qr_payload="00020101021238570010A00000072701270006970436",
        )
        d.set_offline(True)
        s = httpx.get(base + "/state.json").json()
        assert (s["title"], s["plate"], s["fee_vnd"], s["kind"], s["offline"], s["lane_code"]) == (
            "Vui lòng thanh toán",
            "30A-123.45",
            25000,
            "pay",
            True,
            "HN-01",
        )
        qr = httpx.get(base + "/qr.svg")
        assert qr.headers["content-type"].startswith("image/svg+xml") and "<svg" in qr.text
        v = s["version"]
        d.set_offline(True)  # no change, no new version (the page does not redraw)
        assert httpx.get(base + "/state.json").json()["version"] == v
    finally:
        d.stop()
