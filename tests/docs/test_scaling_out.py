"""docs/scaling-out.md: the read-only monitor role it gives works as written."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from pocketflow_ext import Flow, Node
from pocketflow_ext.runstore.base import ALL_RUNS
from pocketflow_ext.runstore.open import open_store

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "scaling-out.md"
CONSOLE_SCRIPT = Path(sys.executable).with_name("pocketflow-ext")


class Put(Node):
    def post(self, shared, prep_res, exec_res):
        shared["done"] = True


def role_sql(role: str, password: str, database: str) -> list[str]:
    """The page's SQL block, with this test's role, password and database."""
    (block,) = re.findall(r"```sql\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    text = "\n".join(line for line in block.splitlines() if not line.startswith("--"))
    text = text.replace("pf_monitor", role).replace("change-me", password)
    text = text.replace("DATABASE runs", f'DATABASE "{database}"')
    return [statement.strip() for statement in text.split(";") if statement.strip()]


def test_the_read_only_role_lists_and_reads_runs_and_cannot_write(
    postgres_url: str, tmp_path: Path
) -> None:
    import psycopg

    Flow(start=Put(), db_path=postgres_url, flow_name="article", run_id="article-1").run({})
    role, password = f"pf_monitor_{secrets.token_hex(4)}", secrets.token_hex(8)
    parts = urllib.parse.urlsplit(postgres_url)
    database = parts.path.lstrip("/")
    reader = parts._replace(netloc=f"{role}:{password}@{parts.hostname}:{parts.port}").geturl()
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        try:
            for statement in role_sql(role, password, database):
                admin.execute(statement)

            listed = subprocess.run(
                [CONSOLE_SCRIPT, "runs", reader], capture_output=True, text=True, timeout=60
            )
            assert listed.returncode == 0, listed.stderr
            assert "article-1" in listed.stdout and "completed" in listed.stdout
            assert password not in listed.stdout + listed.stderr

            with open_store(reader, readonly=True) as store:  # what the monitor reads
                page = store.runs_page(ALL_RUNS, limit=50, offset=0)
                assert [r["run_id"] for r in page.rows] == ["article-1"] and page.total == 1
                assert store.flow_names() == ["article"]
                assert store.status_names() == ["completed"]
                assert [e["event"] for e in store.get_events(["article-1"])][:2] == [
                    "flow_start",
                    "node_start",
                ]
                assert store.load_checkpoint("article-1", 0) == {"done": True}

            with (
                psycopg.connect(reader) as conn,
                pytest.raises(psycopg.errors.InsufficientPrivilege),
            ):
                conn.execute("DELETE FROM pf_runs")
        finally:
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def _monitor_shows(reader: str, password: str) -> None:
    """The monitor itself, on the read-only role: lists the run and opens it."""
    pytest.importorskip("streamlit")
    sys.path.insert(0, str(ROOT / "tests" / "ui"))
    try:
        from monitor_app import monitor, open_run, runs_shown
    finally:
        sys.path.remove(str(ROOT / "tests" / "ui"))
    app = monitor(reader)
    assert not app.exception, app.exception
    assert runs_shown(app) == ["article-1"]
    open_run(app, "article-1")
    shown = " ".join(str(e.value) for e in app.markdown) + " ".join(
        str(e.value) for e in app.caption
    )
    assert password not in shown
