"""Operator and finance consoles: server-rendered pages (Jinja2 + htmx + server-sent events), Vietnamese first."""
