"""Nightly reconciliation: every đồng the banks settled matched to a session, every gap explained.

- `rules`     the pure rules (reference tokens tolerant of bank mangling, matching decision, class codes)
- `formats`   reading bank statements (presets in config/banks/*.toml, CSV/XLSX) and settlement reports
- `importer`  streamed import: COPY into a staging table, merge on natural keys, refuse malformed files
- `matching`  the rules carried out set-based in PostgreSQL, classification with evidence
- `service`   one run of a day: lock, match, classify, heal (via the payments/invoices services), summary
- `scheduler` the nightly APScheduler job (exactly once, catch-up of missed nights)
- `report`    finance reports: JSON, CSV, XLSX, PDF; Vietnamese and English
- `cli`, `endpoints`, `demo`: `parking reconcile ...`, `/v1/reconciliation/...`, the demo's day

See docs/reconciliation.md.
"""
