import time, uuid
from pathlib import Path
from sqlalchemy import text
from reconciliation import formats, sqlparse
from reconciliation.importer import _asyncpg, import_file
from parking.kit.db import transaction
from parking.settings import REPO_ROOT
COLS = ("file_id", "provider", *formats.STATEMENT_COLUMNS)

async def test_dbg(sessionmaker):
    async with sessionmaker() as db, db.begin():
        await db.execute(text("SELECT 1"))
        conn = await _asyncpg(db)
        await conn.execute("SET LOCAL work_mem = '128MB'")
        await conn.execute(f"CREATE TEMP TABLE t_sql ON COMMIT DROP AS SELECT {', '.join(COLS)} FROM recon_statement_lines WITH NO DATA")
        t = time.perf_counter()
        marks = {}
        class W:
            def __getattr__(self, n): return getattr(conn, n)
            async def execute(self, q, *a):
                t0 = time.perf_counter(); r = await conn.execute(q, *a); marks[q[:60]] = round(time.perf_counter() - t0, 2); return r
            async def fetch(self, q, *a):
                t0 = time.perf_counter(); r = await conn.fetch(q, *a); marks[q[:60]] = round(time.perf_counter() - t0, 2); return r
            async def fetchval(self, q, *a):
                t0 = time.perf_counter(); r = await conn.fetchval(q, *a); marks[q[:60]] = round(time.perf_counter() - t0, 2); return r
            async def copy_to_table(self, *a, **k):
                t0 = time.perf_counter(); r = await conn.copy_to_table(*a, **k); marks["copy"] = round(time.perf_counter() - t0, 2); return r
        await sqlparse.parse_into(W(), Path("/tmp/recb/s100k.csv"), formats.load_preset(REPO_ROOT / "config", "vietcombank"), "t_sql", uuid.uuid4(), "p")
        print("TOTAL", time.perf_counter() - t)
        for k, v in marks.items(): print("MARK", v, k.replace("\n", " "))
    t = time.perf_counter()
    async with transaction(sessionmaker) as db:
        await import_file(db, provider=f"x{uuid.uuid4().hex[:6]}", kind="bank-statement", path=Path("/tmp/recb/s100k.csv"), config_dir=REPO_ROOT / "config", preset="vietcombank")
    print("IMPORT", time.perf_counter() - t)
