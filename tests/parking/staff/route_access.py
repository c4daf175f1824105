"""Who may call each route of the app. The route-authorisation tests fail when a route is missing here, so
every new route must be declared (and is then tested for authentication and cross-operator access)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL_ROLES = ("admin", "supervisor", "operator", "finance", "auditor")


@dataclass(frozen=True)
class Access:
    kind: str  # public | lane | driver | webhook | receipt | staff | console_public
    roles: tuple[str, ...] = ALL_ROLES  # staff roles that pass the role check (write routes exclude auditor)
    body: dict[str, Any] | None = None  # a valid body, for staff write routes (auth must not hide behind a 422)
    form: bool = False  # send `body` as a form (console pages) instead of JSON
    why: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


W = ("admin", "supervisor", "operator", "finance")  # every role that writes
PUBLIC = Access("public")

ROUTES: dict[tuple[str, str], Access] = {
    ("GET", "/health"): Access("public", why="load balancer probe"),
    ("GET", "/"): Access("public", why="redirect to the console"),
    ("GET", "/metrics"): Access("staff", why="or the scrape token"),
    # Lane agents (lane token)
    # The gate validates the event before it authenticates the lane: a valid body shows the 401.
    ("POST", "/v1/gate/events"): Access(
        "lane",
        body={
            "event_id": "6f1c2a9e-0000-4000-8000-000000000001",
            "kind": "entry",
            "plate": "30A-123.45",
            "confidence": 0.9,
            "captured_at": "2026-01-01T00:00:00+00:00",
        },
    ),
    ("POST", "/v1/gate/heartbeat"): Access("lane"),
    ("GET", "/v1/gate/cache"): Access("lane"),
    ("GET", "/v1/gate/sessions/{session_id}"): Access("lane"),
    ("GET", "/v1/gate/events/{event_id}"): Access("lane"),
    ("GET", "/v1/gate/commands"): Access("lane"),
    # Public information for drivers' apps and the exit kiosk
    ("GET", "/v1/lots"): Access("public", why="lot map with free spaces for drivers"),
    ("GET", "/v1/lots/{lot_id}/occupancy"): Access("public", why="free spaces of a lot"),
    ("GET", "/v1/occupancy"): Access("public", why="free spaces"),
    ("GET", "/v1/occupancy/stream"): Access("public", why="free spaces, live"),
    ("GET", "/v1/tariffs"): Access("public", why="published tariffs"),
    ("GET", "/v1/quote"): Access("public", why="what-if quote"),
    ("GET", "/v1/lots/{lot_id}/quote"): Access("public", why="what-if quote"),
    ("GET", "/v1/sessions/{session_id}/fee"): Access("public", why="kiosk/driver: fee of a session by its id"),
    ("GET", "/v1/payments/intents/{reference}"): Access("public", why="kiosk polls its QR by reference"),
    # Bank/gateway webhooks (signed)
    ("POST", "/v1/payments/notify/sepay"): Access("webhook"),
    ("GET", "/v1/payments/notify/vnpay"): Access("webhook"),
    ("POST", "/v1/payments/notify/vnpay"): Access("webhook"),
    # Receipts: capability links (the key in the link)
    ("GET", "/r/{mccqt}.pdf"): Access("receipt"),
    ("GET", "/r/{mccqt}/qr.svg"): Access("receipt"),
    ("GET", "/r/{mccqt}"): Access("receipt"),
    ("GET", "/v1/invoices/{mccqt}"): Access("receipt"),
    # Drivers (driver token)
    ("POST", "/v1/drivers/register"): Access("public", why="sign up"),
    ("POST", "/v1/drivers/login"): Access("public", why="log in"),
    ("GET", "/v1/drivers/me"): Access("driver"),
    ("POST", "/v1/drivers/me/vehicles"): Access("driver"),
    ("GET", "/v1/drivers/me/vehicles"): Access("driver"),
    ("DELETE", "/v1/drivers/me/vehicles/{vehicle_id}"): Access("driver"),
    ("POST", "/v1/drivers/me/payment-methods"): Access("driver"),
    ("GET", "/v1/drivers/me/payment-methods"): Access("driver"),
    ("DELETE", "/v1/drivers/me/payment-methods/{method_id}"): Access("driver"),
    ("POST", "/v1/drivers/me/passes"): Access("driver"),
    ("GET", "/v1/drivers/me/passes"): Access("driver"),
    ("GET", "/v1/drivers/me/sessions"): Access("driver"),
    ("GET", "/v1/drivers/me/debts"): Access("driver"),
    ("POST", "/v1/drivers/me/debts/{debt_id}/pay"): Access("driver"),
    ("GET", "/v1/drivers/me/invoices"): Access("driver"),
    ("PUT", "/v1/drivers/me/invoice-details"): Access("driver"),
    ("POST", "/v1/drivers/me/invoices/{mccqt}/company"): Access("driver"),
    # Staff
    ("GET", "/v1/lanes"): Access("staff"),
    ("POST", "/v1/payments/{payment_id}/refunds"): Access(
        "staff", roles=("admin", "supervisor", "finance"), body={"amount_vnd": 10**12, "reason": "route test"}
    ),
    ("POST", "/v1/payments/sessions/{session_id}/unpaid-exit"): Access(
        "staff", roles=("admin", "supervisor", "operator"), body={"reason": "attendant_override"}
    ),
    ("POST", "/v1/payments/intents/expire"): Access("staff", roles=("admin", "supervisor", "operator"), body={}),
    ("GET", "/v1/payments/ledger/check"): Access("staff", roles=("admin", "finance", "auditor")),
    ("POST", "/v1/staff/login"): Access("public", why="console login (throttled)"),
    ("POST", "/v1/staff/logout"): Access("staff", body={}),
    ("GET", "/v1/staff/me"): Access("staff"),
    ("POST", "/v1/staff/tokens"): Access("staff", roles=("admin",), body={"name": "t", "role": "auditor"}),
    ("GET", "/v1/staff/tokens"): Access("staff", roles=("admin",)),
    ("DELETE", "/v1/staff/tokens/{token_id}"): Access("staff", roles=("admin",), body=None),
    ("POST", "/v1/staff/users"): Access(
        "staff", roles=("admin",), body={"email": "x@example.vn", "role": "auditor", "password": "x" * 12}
    ),
    ("GET", "/v1/staff/users"): Access("staff", roles=("admin",)),
    # Console pages: like staff routes, but a visitor without a session is redirected to the login page.
    ("GET", "/console/login"): Access("public", why="login form"),
    ("POST", "/console/login"): Access("public", why="login (throttled, login CSRF cookie)"),
    ("GET", "/console/lang/{locale}"): Access("public", why="language switch cookie"),
    ("GET", "/console/static/{path}"): Access("public", why="vendored assets"),
    ("POST", "/console/logout"): Access("console", body={}, form=True),
    ("GET", "/console"): Access("console"),
    ("GET", "/console/fragments/lanes"): Access("console"),
    ("GET", "/console/stream"): Access("console"),
    ("GET", "/console/events/{event_id}/image"): Access("console"),
    ("POST", "/console/lanes/{lane_id}/override"): Access(
        "console", roles=("admin", "supervisor"), body={"reason": "route test"}, form=True
    ),
    ("GET", "/console/review"): Access("console"),
    ("POST", "/console/review/{session_id}"): Access(
        "console",
        roles=("admin", "supervisor", "operator", "finance"),
        body={"action": "confirm", "reason": "test"},
        form=True,
    ),
    ("GET", "/console/alerts"): Access("console"),
    ("POST", "/console/alerts/{alert_id}/ack"): Access("console", roles=W, body={"note": "route test"}, form=True),
    ("GET", "/console/finance"): Access("console", roles=("admin", "finance", "auditor")),
    ("GET", "/console/finance/export.{fmt}"): Access("console", roles=("admin", "finance", "auditor")),
    ("GET", "/console/finance/invoices"): Access("console", roles=("admin", "finance", "auditor")),
}
