"""The PostgreSQL store against a real server: bad URLs and databases refused when the flow
is built, schema migrated once by workers starting together, read-only roles, and
connections lost mid-run."""

from __future__ import annotations

import subprocess
import sys
import urllib.parse
from types import SimpleNamespace

import pytest
from store_sql import execute

from pocketflow_ext import Flow, Node, WorkflowDB
from pocketflow_ext.errors import RecordingError, RunExistsError, StoreBusy
from pocketflow_ext.runstore import RunRow, RunUpdate, open_store

psycopg = pytest.importorskip("psycopg", reason='needs pip install -e ".[postgres]"')


class Step(Node):
    ran: list[str] = []

    def exec(self, prep_res):
        Step.ran.append(self.name)

    def post(self, shared, prep_res, exec_res):
        shared.setdefault("done", []).append(self.name)


def step(name: str) -> Step:
    node = Step()
    node.name = name
    return node


def with_parts(url: str, **parts: str) -> str:
    """``url`` with other user, password or database (``path``)."""
    split = urllib.parse.urlsplit(url)
    user = parts.get("user", split.username or "")
    password = parts.get("password", split.password or "")
    netloc = f"{user}:{password}@{split.hostname}:{split.port}"
    return urllib.parse.urlunsplit(
        split._replace(netloc=netloc, path=parts.get("path", split.path))
    )


def server_of(url: str) -> str:
    return with_parts(url, path="/postgres")


def refused(url: str) -> str:
    """The message of the RecordingError building a recorded flow on ``url`` raises; no
    node may have run."""
    Step.ran = []
    with pytest.raises(RecordingError) as caught:
        Flow(start=step("A"), db_path=url).run({})
    assert Step.ran == []
    return str(caught.value)


# ── bad input, refused when the flow is built ─────────────────────────────────
def test_a_wrong_password_is_named_without_showing_any_password(postgres_url: str) -> None:
    real = urllib.parse.urlsplit(postgres_url).password
    url = with_parts(postgres_url, password="not-the-password")
    message = refused(url)
    assert "user name or password is wrong" in message
    assert "postgres:***@" in message
    assert "not-the-password" not in message and str(real) not in message


def test_a_missing_database_says_to_create_it(postgres_url: str) -> None:
    message = refused(with_parts(postgres_url, path="/no_such_runs"))
    assert "does not exist" in message and "CREATE DATABASE" in message
    assert "/no_such_runs" in message


def test_tables_of_another_program_are_refused_and_left_unchanged(postgres_url: str) -> None:
    execute(postgres_url, "CREATE TABLE pf_runs (id INTEGER, name TEXT)")
    execute(postgres_url, "INSERT INTO pf_runs VALUES (1, 'theirs')")
    message = refused(postgres_url)
    assert "did not create: pf_runs" in message and "search_path" in message
    assert execute(postgres_url, "SELECT * FROM pf_runs") == [(1, "theirs")]


def test_a_server_older_than_12_is_refused_with_what_to_do() -> None:
    from pocketflow_ext.runstore.postgres import _check_server

    old = SimpleNamespace(info=SimpleNamespace(server_version=110009))
    with pytest.raises(RecordingError, match=r"runs PostgreSQL 11, older than .* upgrade"):
        _check_server(old, "postgresql://db/runs")  # type: ignore[arg-type]


def test_libpq_options_pass_through(postgres_url: str) -> None:
    # The test server speaks no SSL: sslmode=require reaching libpq is refused by it.
    message = refused(postgres_url + "?sslmode=require")
    assert "SSL" in message and "sslmode" in message
    with open_store(postgres_url + "?sslmode=disable&application_name=nightly") as store:
        store.create_run(RunRow("r-1"))


# ── schema ───────────────────────────────────────────────────────────────────
def test_workers_starting_together_migrate_the_schema_exactly_once(postgres_url: str) -> None:
    code = (
        "import sys\nfrom pocketflow_ext.runstore import open_store\n"
        "open_store(sys.argv[1]).close()\n"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", code, postgres_url], stderr=subprocess.PIPE)
        for _ in range(6)
    ]
    assert [w.wait(timeout=120) for w in workers] == [0] * 6, [w.stderr.read() for w in workers]  # type: ignore[union-attr]
    from pocketflow_ext.runstore import postgres_schema

    assert execute(postgres_url, "SELECT version FROM pf_migrations ORDER BY 1") == [
        (version,) for version in range(1, postgres_schema.SCHEMA_VERSION + 1)
    ]


def test_a_newer_schema_is_refused_naming_the_upgrade(postgres_url: str) -> None:
    open_store(postgres_url).close()
    execute(postgres_url, "INSERT INTO pf_migrations VALUES (99, 'later')")
    assert "upgrade pocketflow-ext" in refused(postgres_url)


# ── roles ────────────────────────────────────────────────────────────────────
@pytest.fixture
def roles(postgres_url: str) -> tuple[str, str]:
    """URLs of a read-only role (SELECT on the run tables) and a role without grants."""
    database = urllib.parse.urlsplit(postgres_url).path.lstrip("/")
    suffix = database.rsplit("_", 1)[-1]
    reader, stranger = f"reader_{suffix}", f"stranger_{suffix}"
    server = server_of(postgres_url)
    with WorkflowDB(postgres_url) as db:  # the owner creates the tables and records a run
        db.create_run("r-1", "owned")
    for role in (reader, stranger):
        execute(server, f"CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}'")
    execute(postgres_url, f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader}")
    yield (
        with_parts(postgres_url, user=reader, password=f"pw-{reader}"),
        with_parts(postgres_url, user=stranger, password=f"pw-{stranger}"),
    )
    for role in (reader, stranger):
        execute(postgres_url, f"DROP OWNED BY {role}")
        execute(server, f"DROP ROLE {role}")


def test_a_read_only_role_reads_runs_everywhere_but_cannot_record(roles: tuple[str, str]) -> None:
    reader, _ = roles
    with WorkflowDB(reader, readonly=True) as db:
        assert [r["run_id"] for r in db.list_runs()] == ["r-1"]
    shown = subprocess.run(
        [sys.executable, "-m", "pocketflow_ext", "runs", reader], capture_output=True, text=True
    )
    assert shown.returncode == 0 and "r-1" in shown.stdout, shown.stderr
    message = refused(reader)
    assert "may not write to" in message and "GRANT INSERT, UPDATE and SELECT" in message
    assert "pw-" not in message


def test_readers_run_read_only_transactions_even_as_the_owner(postgres_url: str) -> None:
    open_store(postgres_url).close()
    with open_store(postgres_url, readonly=True) as store:
        with pytest.raises(RecordingError, match="read-only"):
            store.write([RunUpdate("r-1", {"status": "failed"})])
        with store._cursor() as cur:  # behind the interface: the session itself refuses
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                cur.execute("INSERT INTO pf_migrations VALUES (50, 'x')")


def test_a_role_without_grants_is_told_what_to_ask_for(roles: tuple[str, str]) -> None:
    _, stranger = roles
    message = refused(stranger)
    assert "may not write to" in message and "GRANT" in message
    with pytest.raises(RecordingError, match="may not read"):
        open_store(stranger, readonly=True)


# ── connections lost ─────────────────────────────────────────────────────────
class CutConnections(Node):
    """Ends every session of the run's database, as a server restart or failover would."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def exec(self, prep_res):
        database = urllib.parse.urlsplit(self.url).path.lstrip("/")
        execute(
            server_of(self.url),
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ?",
            (database,),
        )


def test_connections_lost_mid_run_are_replaced_and_every_row_recorded(postgres_url: str) -> None:
    a, cut, b = step("A"), CutConnections(postgres_url), step("B")
    a >> cut >> b
    flow = Flow(start=a, db_path=postgres_url, flow_name="cut", run_id="cut-1")
    assert flow.run({}) is None
    with WorkflowDB(postgres_url, readonly=True) as db:
        assert db.get_run("cut-1")["status"] == "completed"
        events = [(e["event"], e["node_name"]) for e in db.get_events("cut-1")]
        assert [c["node_name"] for c in db.get_checkpoints("cut-1")] == [
            "A",
            "CutConnections",
            "B",
        ]
    assert ("node_end", "CutConnections") in events and events[-1] == ("flow_end", "cut")


def test_a_server_that_stays_away_is_store_busy_and_keeps_what_was_recorded(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pocketflow_ext.runstore import postgres

    monkeypatch.setattr(postgres, "POOL_TIMEOUT_S", 1.0)  # this test's patience only
    database = urllib.parse.urlsplit(postgres_url).path.lstrip("/")
    store = open_store(postgres_url)
    try:
        store.create_run(RunRow("kept"))
        execute(server_of(postgres_url), f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        execute(
            server_of(postgres_url),
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ?",
            (database,),
        )
        for _ in range(2):  # the dropped connection, then no new one
            with pytest.raises(StoreBusy, match="cannot be reached") as caught:
                store.write([RunRow("lost")])
            assert urllib.parse.urlsplit(postgres_url).password not in str(caught.value)
    finally:
        execute(server_of(postgres_url), f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        store.close()
    with WorkflowDB(postgres_url, readonly=True) as db:
        assert [r["run_id"] for r in db.list_runs()] == ["kept"]


def test_the_store_travels_to_another_process_by_url(postgres_url: str) -> None:
    import pickle

    with open_store(postgres_url) as store:
        again = pickle.loads(pickle.dumps(store))
        again.create_run(RunRow("sent"))
        assert store.has_run("sent") and again.location == store.location
        again.close()


def test_a_version_1_database_gains_the_cache_and_delta_columns_keeping_its_runs(
    postgres_url: str,
) -> None:
    from pocketflow_ext.runstore import postgres_schema

    # What a version-1 writer left behind: its migration only, and a run.
    execute(
        postgres_url,
        "CREATE TABLE pf_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
    )
    for statement in postgres_schema.MIGRATIONS[0]:
        execute(postgres_url, statement)
    execute(postgres_url, "INSERT INTO pf_migrations VALUES (1, 'then')")
    execute(postgres_url, "INSERT INTO pf_runs (run_id, started_at) VALUES ('old', 'then')")
    with open_store(postgres_url) as store:
        assert store.schema_version == postgres_schema.SCHEMA_VERSION == 4
        assert store.has_run("old")
        store.cache_put("k", "N", "1", "2026-01-01T00:00:00.000000+00:00", None)
        assert store.cache_get("k") is not None
    assert execute(postgres_url, "SELECT version FROM pf_migrations ORDER BY 1") == [
        (version,) for version in range(1, postgres_schema.SCHEMA_VERSION + 1)
    ]


def test_a_write_is_one_transaction_a_failing_row_leaves_none_of_its_rows(
    postgres_url: str,
) -> None:
    # One round trip: the pipeline's statements run as one implicit transaction.
    with open_store(postgres_url) as store:
        store.create_run(RunRow("first"))
        with pytest.raises(RunExistsError):
            store.write(
                [RunRow("second"), RunUpdate("first", {"status": "failed"}), RunRow("first")]
            )
        store.write([RunRow("third")])  # the session is usable again at once
        assert not store.has_run("second") and store.has_run("third")
        assert store.get_run("first")["status"] == "running"  # type: ignore[index]
