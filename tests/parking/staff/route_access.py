"""Who may call each route of the app. The route-authorisation tests fail when a route is missing here, so
every new route must be declared (and is then tested for authentication and cross-operator access)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL_ROLES = ("admin", "supervisor", "operator", "finance", "auditor")


@dataclass(frozen=True)
class Access:
    kind: str  # public | lane | driver | driver_page | city | webhook | receipt | staff | console
    roles: tuple[str, ...] = ALL_ROLES  # staff roles that pass the role check (write routes exclude auditor)
    body: dict[str, Any] | None = None  # a valid body, for staff write routes (auth must not hide behind a 422)
    form: bool = False  # send `body` as a form (console pages) instead of JSON
    why: str = ""
    # "query": query parameters sent with every call; "params": path parameters when the test names none
    extra: dict[str, Any] = field(default_factory=dict)


W = ("admin", "supervisor", "operator", "finance")  # every role that writes
DESK = ("admin", "supervisor", "operator", "auditor")  # disputes, reports, plate claims, lot settings (auditor: GETs)
DESK_W = ("admin", "supervisor", "operator")
FINANCE = ("admin", "finance")  # reconciliation runs, imports, refund proposals
FINANCE_R = ("admin", "finance", "auditor")
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
    ("POST", "/v1/gate/events/{event_id}/outcome"): Access("lane", body={"outcome": "opened"}),
    ("POST", "/v1/gate/sessions/{session_id}/left-unpaid"): Access("lane"),
    # Public information for drivers' apps and the exit kiosk
    ("GET", "/v1/lots"): Access("public", why="lot map with free spaces for drivers"),
    ("GET", "/v1/lots/{lot_id}/occupancy"): Access("public", why="free spaces of a lot"),
    ("GET", "/v1/occupancy"): Access("public", why="free spaces"),
    ("GET", "/v1/occupancy/stream"): Access("public", why="free spaces, live"),
    ("GET", "/v1/tariffs"): Access("public", why="published tariffs"),
    ("GET", "/v1/quote"): Access("public", why="what-if quote"),
    ("GET", "/v1/lots/{lot_id}/quote"): Access("public", why="what-if quote"),
    ("GET", "/v1/sessions/{session_id}/fee"): Access(
        "public", why="its driver, a lane of its lot or staff of its lot (checked after the session is found)"
    ),
    ("GET", "/v1/sessions/{session_id}/crops/{side}"): Access("public", why="same access as the fee proof"),
    ("GET", "/v1/places"): Access("public", why="find a space"),
    ("GET", "/v1/places/{code}/forecast"): Access("public", why="free spaces ahead"),
    ("GET", "/docs/init.js"): Access("public", why="vendored API docs"),
    ("GET", "/static/swagger-ui/{path}"): Access("public", why="vendored API docs"),
    # Mobile pages for drivers (driver cookie after the identity provider's sign-in)
    ("GET", "/m"): Access("public", why="home page: find a space"),
    ("GET", "/m/lots/{code}"): Access("public", why="a lot's page"),
    ("GET", "/m/login"): Access("public", why="sign in through the identity provider"),
    ("GET", "/m/callback"): Access("public", why="the identity provider's answer (state and nonce checked)"),
    ("GET", "/m/me"): Access("driver_page"),
    ("GET", "/m/sessions/{session_id}"): Access("driver_page"),
    ("GET", "/m/sessions/{session_id}/crops/{side}"): Access("driver_page"),
    ("POST", "/m/sessions/{session_id}/dispute"): Access(
        "driver_page", body={"csrf": "forged", "kind": "other", "reason": "route test"}, form=True
    ),
    ("POST", "/m/lots/{code}/report"): Access(
        "driver_page",
        body={"csrf": "forged", "kind": "other", "comment": "route test"},
        form=True,
        extra={"params": {"code": "NO-SUCH-LOT"}},
    ),
    # City feed (city client key with scopes)
    ("GET", "/v1/city/places"): Access("city"),
    ("GET", "/v1/city/occupancy"): Access("city"),
    ("GET", "/v1/city/rates"): Access("city"),
    ("GET", "/v1/city/aggregates"): Access("city"),
    ("POST", "/v1/city/webhooks"): Access("city", body={"url": "https://example.vn/hook", "events": ["alert"]}),
    ("GET", "/v1/city/webhooks"): Access("city"),
    ("DELETE", "/v1/city/webhooks/{webhook_id}"): Access("city"),
    ("GET", "/v1/city/webhooks/{webhook_id}/deliveries"): Access("city"),
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
    ("POST", "/v1/drivers/oidc/token"): Access("public", why="sign in with the identity provider's ID token"),
    ("GET", "/v1/drivers/me/vehicle-claims"): Access("driver"),
    ("POST", "/v1/drivers/me/disputes"): Access("driver"),
    ("GET", "/v1/drivers/me/disputes"): Access("driver"),
    ("GET", "/v1/drivers/me/disputes/{dispute_id}"): Access("driver"),
    ("POST", "/v1/lots/{lot_code}/reports"): Access("driver"),
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
    # Driver-side queues: scoped by the staff member's lots (claims: by the lots where the plate has parked)
    ("GET", "/v1/operator/disputes"): Access("staff", roles=DESK),
    ("POST", "/v1/operator/disputes/{dispute_id}/decision"): Access(
        "staff", roles=DESK_W, body={"decision": "reject", "reason": "route test"}
    ),
    ("GET", "/v1/operator/reports"): Access("staff", roles=DESK),
    ("POST", "/v1/operator/reports/{report_id}/ack"): Access("staff", roles=DESK_W, body={}),
    ("GET", "/v1/operator/vehicle-claims"): Access("staff", roles=DESK),
    ("POST", "/v1/operator/vehicle-claims/{claim_id}/decision"): Access(
        "staff", roles=DESK_W, body={"approve": False, "reason": "route test"}
    ),
    ("PATCH", "/v1/operator/lots/{code}"): Access("staff", roles=DESK_W, body={}),
    ("POST", "/v1/operator/city-clients"): Access(
        "staff", roles=("admin",), body={"name": "route test", "scopes": ["places:read"]}, why="platform-wide feed"
    ),
    # Reconciliation. A valid run/import/demo reaches the bank files or the payment simulator: the role check is
    # shown on a malformed day/date/file (422 comes after authentication and the role check).
    ("POST", "/v1/reconciliation/imports"): Access(
        "staff", roles=FINANCE, body={}, extra={"query": {"provider": "bank", "kind": "bank-statement"}}
    ),
    ("POST", "/v1/reconciliation/runs/{day}"): Access("staff", roles=FINANCE, body={}),
    ("POST", "/v1/reconciliation/demo"): Access("staff", roles=FINANCE, body={}, extra={"query": {"date": "bad"}}),
    ("GET", "/v1/reconciliation/runs/{day}"): Access("staff", roles=FINANCE_R),
    ("GET", "/v1/reconciliation/discrepancies/{day}"): Access("staff", roles=FINANCE_R),
    ("GET", "/v1/reconciliation/reports/{day}"): Access("staff", roles=FINANCE_R),
    ("POST", "/v1/reconciliation/refund-proposals/{proposal_id}/approve"): Access("staff", roles=FINANCE, body={}),
    ("POST", "/v1/reconciliation/refund-proposals/{proposal_id}/reject"): Access(
        "staff", roles=FINANCE, body={"reason": "route test reason"}
    ),
    ("POST", "/v1/reconciliation/discrepancies/{discrepancy_id}/explain"): Access(
        "staff", roles=FINANCE, body={"note": "route test note"}
    ),
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
    ("GET", "/console/disputes"): Access("console", roles=DESK),
    ("POST", "/console/disputes/{dispute_id}/decision"): Access(
        "console", roles=DESK_W, body={"decision": "reject", "reason": "route test"}, form=True
    ),
    ("GET", "/console/reports"): Access("console", roles=DESK),
    ("POST", "/console/reports/{report_id}/ack"): Access("console", roles=DESK_W, body={}, form=True),
    ("GET", "/console/alerts"): Access("console"),
    ("POST", "/console/alerts/{alert_id}/ack"): Access("console", roles=W, body={"note": "route test"}, form=True),
    ("GET", "/console/finance"): Access("console", roles=("admin", "finance", "auditor")),
    ("GET", "/console/finance/export.{fmt}"): Access("console", roles=("admin", "finance", "auditor")),
    ("GET", "/console/finance/invoices"): Access("console", roles=("admin", "finance", "auditor")),
    # The finance console's reconciliation pages (reconciliation/endpoints.py); a day nobody reconciled still
    # renders (the role check is what is shown), a discrepancy and a proposal of the lot are in the world.
    ("GET", "/console/finance/reconciliation"): Access("console", roles=FINANCE_R),
    ("GET", "/console/finance/reconciliation/{day}"): Access(
        "console", roles=FINANCE_R, extra={"params": {"day": "2001-01-01"}}
    ),
    ("GET", "/console/finance/reconciliation/discrepancies/{discrepancy_id}"): Access("console", roles=FINANCE_R),
    ("POST", "/console/finance/reconciliation/discrepancies/{discrepancy_id}/explain"): Access(
        "console", roles=FINANCE, body={"note": "route test note"}, form=True
    ),
    ("POST", "/console/finance/reconciliation/proposals/{proposal_id}/decision"): Access(
        "console", roles=FINANCE, body={"decision": "reject", "reason": "route test reason"}, form=True
    ),
}
