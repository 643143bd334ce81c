"""The monitor in Streamlit's AppTest over databases recorded by real flows: the runs table,
its filters and pages, each run tab, and each database it cannot show."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import sys
from pathlib import Path

import pytest
from monitor_app import KEY, monitor, open_run, runs_shown, tab
from record_runs import record
from streamlit.testing.v1 import AppTest

from pocketflow_ext.ui.monitor import DB_ENV

MONITOR_PY = Path(__file__).resolve().parents[2] / "pocketflow_ext" / "ui" / "monitor.py"

pytestmark = pytest.mark.timeout(120)


def texts(block) -> str:  # noqa: ANN001 - an AppTest block or the whole app
    return "\n".join(str(t.value) for t in block.text)


# ── runs table ────────────────────────────────────────────────────────────────
def test_runs_table_lists_every_recorded_run_newest_first(recorded_db: Path) -> None:
    app = monitor(recorded_db)
    assert not app.exception
    assert runs_shown(app) == ["crash-1", "slow-cancelled", "nested-ok", "writer-bad", "writer-ok"]


def test_runs_table_shows_status_badges_including_derived_interrupted(recorded_db: Path) -> None:
    table = monitor(recorded_db).dataframe[0].value.set_index("Run id")
    assert table.loc["writer-ok", "Status"] == "✔ completed"
    assert table.loc["writer-bad", "Status"] == "✖ failed"
    assert table.loc["slow-cancelled", "Status"] == "■ cancelled"
    # Stored as running, but its process died: the monitor shows it interrupted.
    assert table.loc["crash-1", "Status"] == "⚠ interrupted"


def test_runs_table_shows_flow_steps_and_current_node(recorded_db: Path) -> None:
    table = monitor(recorded_db).dataframe[0].value.set_index("Run id")
    assert table.loc["writer-bad", "Flow"] == "writer"
    assert table.loc["writer-bad", "Steps"] == "6"
    assert table.loc["writer-bad", "Current node"] == "Broken"
    assert table.loc["writer-ok", "Duration"].endswith("ms")


def test_status_filter_keeps_only_runs_with_that_status(recorded_db: Path) -> None:
    app = monitor(recorded_db)
    app.multiselect(key=f"{KEY}-status").set_value(["failed", "cancelled"]).run()
    assert sorted(runs_shown(app)) == ["slow-cancelled", "writer-bad"]
    assert "2 runs · page 1 of 1" in texts(app)


def test_interrupted_filter_finds_the_run_whose_process_died(recorded_db: Path) -> None:
    app = monitor(recorded_db)
    app.multiselect(key=f"{KEY}-status").set_value(["interrupted"]).run()
    assert runs_shown(app) == ["crash-1"]
    app.multiselect(key=f"{KEY}-status").set_value(["running"]).run()
    assert runs_shown(app) == []
    assert any("No runs match" in i.value for i in app.info)


def test_flow_filter_keeps_only_runs_of_that_flow(recorded_db: Path) -> None:
    app = monitor(recorded_db)
    app.multiselect(key=f"{KEY}-flow").set_value(["writer"]).run()
    assert runs_shown(app) == ["writer-bad", "writer-ok"]


def test_search_matches_part_of_the_run_id_literally(recorded_db: Path) -> None:
    app = monitor(recorded_db)
    app.text_input(key=f"{KEY}-search").input("-ok").run()
    assert sorted(runs_shown(app)) == ["nested-ok", "writer-ok"]
    app.text_input(key=f"{KEY}-search").input("%").run()  # a LIKE wildcard, taken literally
    assert runs_shown(app) == []


def test_pages_split_many_runs_without_overlap(tmp_path: Path) -> None:
    db = record(tmp_path / "many.db", "many", "60")
    app = monitor(db)
    app.selectbox(key=f"{KEY}-size").set_value(25).run()
    first = runs_shown(app)
    assert len(first) == 25 and "60 runs · page 1 of 3" in texts(app)
    app.number_input(key=f"{KEY}-page").set_value(3).run()
    last = runs_shown(app)
    assert len(last) == 10 and not set(first) & set(last)
    assert "page 3 of 3" in texts(app)


def test_auto_refresh_toggle_enables_the_interval_choice(recorded_db: Path) -> None:
    app = monitor(recorded_db)
    assert app.selectbox(key=f"{KEY}-every").disabled
    app.toggle(key=f"{KEY}-auto").set_value(True).run()
    assert not app.selectbox(key=f"{KEY}-every").disabled
    assert app.selectbox(key=f"{KEY}-every").options == ["every 5 s", "every 10 s", "every 30 s"]
    app.selectbox(key=f"{KEY}-every").set_value(30).run()
    assert not app.exception


def test_refresh_button_shows_runs_recorded_since_the_last_render(recorded_db: Path) -> None:
    app = monitor(recorded_db)
    assert len(runs_shown(app)) == 5
    record(recorded_db, "many", "2")
    app.button(key=f"{KEY}-refresh").click().run()
    assert len(runs_shown(app)) == 7


# ── run detail ────────────────────────────────────────────────────────────────
def test_opening_a_run_shows_its_summary_and_four_tabs(recorded_db: Path) -> None:
    app = open_run(monitor(recorded_db), "writer-bad")
    assert [t.label for t in app.tabs] == ["Timeline", "Store", "Graph", "Resume"]
    summary = app.dataframe[1].value.iloc[0]
    assert summary["Status"] == "✖ failed"
    assert summary["Error"] == "ValueError: publisher offline"


def test_timeline_lists_events_in_order_with_paths_actions_and_latency(
    recorded_db: Path,
) -> None:
    app = open_run(monitor(recorded_db), "writer-ok")
    events = tab(app, "Timeline").dataframe[0].value
    starts = events[events["Event"] == "node_start"]["Node"].tolist()
    assert starts == [
        "writer/Fetch",
        "writer/Draft",
        "writer/Review",
        "writer/Draft",
        "writer/Review",
        "writer/Publish",
    ]
    ends = events[events["Event"] == "node_end"]
    assert ends["Action"].tolist()[:3] == ["default", "review", "again"]
    # Fast nodes in µs, the others in ms: the unit suits each latency.
    assert all(re.fullmatch(r"\d+(\.\d)? (µs|ms)", latency) for latency in ends["Latency"])


def test_timeline_shows_retry_attempts(recorded_db: Path) -> None:
    app = open_run(monitor(recorded_db), "writer-ok")
    events = tab(app, "Timeline").dataframe[0].value
    retry = events[events["Event"] == "node_retry"].iloc[0]
    assert retry["Node"] == "writer/Draft"
    assert retry["Attempt"] == "1"
    assert retry["Error"] == "ConnectionError: rate limited (call 1)"


def test_timeline_shows_nested_flow_paths(recorded_db: Path) -> None:
    app = open_run(monitor(recorded_db), "nested-ok")
    nodes = tab(app, "Timeline").dataframe[0].value["Node"].tolist()
    assert "nested/polish/Fetch" in nodes and "nested/polish/Publish" in nodes


def test_timeline_keeps_the_full_traceback_behind_an_expander(recorded_db: Path) -> None:
    app = open_run(monitor(recorded_db), "writer-bad")
    timeline = tab(app, "Timeline")
    failed = [e for e in timeline.expander if "Broken failed" in e.label]
    assert len(failed) == 1
    traceback = failed[0].code[0].value
    assert traceback.startswith("Traceback (most recent call last)")
    assert "ValueError: publisher offline" in traceback


def test_timeline_charts_node_durations(recorded_db: Path) -> None:
    app = open_run(monitor(recorded_db), "writer-ok")
    charts = [c for c in tab(app, "Timeline").children.values() if c.type == "vega_lite_chart"]
    assert len(charts) == 1, "no duration chart in the Timeline tab"
    spec = json.loads(charts[0].proto.spec)
    rows = spec["encoding"]["y"]["sort"]  # one bar per node execution, in step order
    assert rows == [
        "0 · Fetch",
        "1 · Draft",
        "2 · Review",
        "3 · Draft",
        "4 · Review",
        "5 · Publish",
    ]


def test_store_inspector_shows_keys_with_types_at_the_chosen_checkpoint(
    recorded_db: Path,
) -> None:
    app = open_run(monitor(recorded_db), "writer-ok")
    store = tab(app, "Store")
    slider = store.select_slider(key=f"{KEY}-store-step")
    assert slider.value == 5  # the last checkpoint by default
    slider.set_value(1).run()
    rows = tab(app, "Store").dataframe[0].value.set_index("Key")
    assert rows.loc["tags", "Type"] == "tuple"
    assert rows.loc["tags", "Value"] == "('a', 'b')"
    assert rows.loc["when", "Type"] == "datetime.date"
    assert rows.loc["draft_count", "Value"] == "1"


def test_store_inspector_diffs_against_the_previous_checkpoint(recorded_db: Path) -> None:
    app = open_run(monitor(recorded_db), "writer-ok")
    tab(app, "Store").select_slider(key=f"{KEY}-store-step").set_value(2).run()
    store = tab(app, "Store")
    diff = store.dataframe[1].value.set_index("Key")
    assert diff.loc["scratch", "Change"] == "removed"  # Review popped it
    assert "Changes since step 1" in texts(store)
    tab(app, "Store").select_slider(key=f"{KEY}-store-step").set_value(1).run()
    diff = tab(app, "Store").dataframe[1].value.set_index("Key")
    assert diff.loc["draft_count", "Change"] == "changed"
    assert (diff.loc["draft_count", "Before"], diff.loc["draft_count", "After"]) == ("0", "1")
    assert diff.loc["tags", "Change"] == "added"


def test_store_inspector_shows_the_raw_json_as_recorded(recorded_db: Path) -> None:
    app = open_run(monitor(recorded_db), "writer-ok")
    raw = tab(app, "Store").expander[0].code[0].value
    assert '"published": true' in raw and '"__pocketflow_ext__": "tuple"' in raw


def test_store_values_are_text_not_markup(recorded_db: Path) -> None:
    app = open_run(monitor(recorded_db), "writer-ok")
    rows = tab(app, "Store").dataframe[0].value.set_index("Key")
    assert rows.loc["notes", "Value"] == "notes about <b>otters</b> [link](http://x)"
    assert not any("<b>otters" in m.value for m in app.markdown)


def test_graph_draws_the_recorded_graph_with_visit_counts(recorded_db: Path) -> None:
    app = open_run(monitor(recorded_db), "writer-ok")
    graph = tab(app, "Graph")
    dot = app.get("graphviz_chart")[0].proto.spec
    assert '"writer/Draft" [label="Draft\\n×2"' in dot
    assert '"writer/Review" -> "writer/Draft" [label="again ×1"' in dot
    visits = graph.dataframe[0].value.set_index("Node")
    assert visits.loc["writer/Review", "Visits"] == "2"


def test_graph_of_a_nested_flow_boxes_its_inner_nodes(recorded_db: Path) -> None:
    app = open_run(monitor(recorded_db), "nested-ok")
    dot = app.get("graphviz_chart")[0].proto.spec
    assert "subgraph cluster_0" in dot and '"nested/polish/Fetch"' in dot


def test_graph_marks_the_node_that_failed(recorded_db: Path) -> None:
    app = open_run(monitor(recorded_db), "writer-bad")
    visits = tab(app, "Graph").dataframe[0].value.set_index("Node")
    assert visits.loc["writer/Broken", "Failed"] == "yes"


def test_resume_tab_offers_flow_resume_for_a_failed_run(recorded_db: Path) -> None:
    app = open_run(monitor(recorded_db), "writer-bad")
    resume = tab(app, "Resume")
    snippet = resume.code[0].value
    assert f"flow.resume('writer-bad', db_path={str(recorded_db)!r})" in snippet
    assert "writer/Broken" in snippet  # the node that runs next, named
    assert resume.code[1].value == (
        f"pocketflow-ext run --db {recorded_db} --resume writer-bad your_script.py"
    )


@pytest.mark.parametrize("run_id", ["slow-cancelled", "crash-1"])
def test_resume_tab_offers_flow_resume_for_cancelled_and_interrupted_runs(
    recorded_db: Path, run_id: str
) -> None:
    resume = tab(open_run(monitor(recorded_db), run_id), "Resume")
    snippet = resume.code[0].value
    assert "nothing to continue" not in snippet
    assert f"flow.resume({run_id!r}, db_path={str(recorded_db)!r})" in snippet
    assert resume.code[1].value == (
        f"pocketflow-ext run --db {recorded_db} --resume {run_id} your_script.py"
    )


def test_resume_tab_continues_after_an_earlier_checkpoint(recorded_db: Path) -> None:
    app = open_run(monitor(recorded_db), "writer-bad")
    tab(app, "Resume").select_slider(key=f"{KEY}-resume-step").set_value(2).run()
    snippet = tab(app, "Resume").code[0].value
    assert "load_checkpoint('writer-bad', step=2)" in snippet
    assert "flow.run(store, resume_from='Draft')" in snippet  # Review (step 2) said "again"
    # The command line resumes after the last checkpoint only: here it shows the timeline.
    assert tab(app, "Resume").code[1].value == f"pocketflow-ext show {recorded_db} writer-bad"


# ── PocoFlow 0.2.1 databases ──────────────────────────────────────────────────
def test_pocoflow_database_lists_its_runs(pocoflow_db: Path) -> None:
    table = monitor(pocoflow_db).dataframe[0].value.set_index("Run id")
    assert list(table.index) == ["crashing-0001", "writer-bad-0002", "writer-ok-0001"]
    assert table.loc["writer-bad-0002", "Status"] == "✖ failed"
    # PocoFlow records no process id: a run left running cannot be told apart from a live one.
    assert table.loc["crashing-0001", "Status"] == "▶ running"


def test_pocoflow_run_shows_every_tab(pocoflow_db: Path) -> None:
    app = open_run(monitor(pocoflow_db), "writer-bad-0002")
    events = tab(app, "Timeline").dataframe[0].value
    assert events["Node"].tolist()[:2] == ["Fetch", "Fetch"]
    assert any("Publish failed" in e.label for e in tab(app, "Timeline").expander)
    assert "notes" in tab(app, "Store").dataframe[0].value["Key"].tolist()
    assert "No graph was recorded" in texts(tab(app, "Graph"))
    assert '"Review" -> "Draft" [label="again ×1"' in app.get("graphviz_chart")[0].proto.spec
    snippet = tab(app, "Resume").code[0].value
    assert "flow.run(store, resume_from='Publish')" in snippet


def test_pocoflow_database_is_left_byte_for_byte_unchanged(pocoflow_db: Path) -> None:
    before = hashlib.sha256(pocoflow_db.read_bytes()).hexdigest()
    app = open_run(monitor(pocoflow_db), "writer-ok-0001")
    app.multiselect(key=f"{KEY}-status").set_value(["completed"]).run()
    assert hashlib.sha256(pocoflow_db.read_bytes()).hexdigest() == before
    with sqlite3.connect(pocoflow_db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0  # not migrated


# ── databases it cannot show ──────────────────────────────────────────────────
def error_of(db: Path | str) -> str:
    app = monitor(db)
    assert not app.exception, app.exception
    assert len(app.error) == 1
    return str(app.error[0].value).replace("\\", "")


def test_missing_file_says_so_and_is_not_created(tmp_path: Path) -> None:
    db = tmp_path / "nope.db"
    assert "Database file not found" in error_of(db)
    assert not db.exists()


def test_empty_file_says_no_runs_yet(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    db.touch()
    assert "is empty: no runs recorded yet" in error_of(db)
    assert db.stat().st_size == 0


def test_sqlite_file_without_tables_says_no_runs_yet(tmp_path: Path) -> None:
    db = tmp_path / "blank.db"
    sqlite3.connect(db).execute("PRAGMA user_version = 0").connection.close()
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("DROP TABLE t")
    assert "is empty: no runs recorded yet" in error_of(db)


def test_file_that_is_not_sqlite_says_so(tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    db.write_text("just some text, not a database\n" * 10)
    assert "is not an SQLite database" in error_of(db)


def test_database_of_another_program_says_so(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER, total REAL)")
    message = error_of(db)
    assert "is not a run database" in message and "invoices" in message


def test_run_table_of_another_schema_says_so(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE pf_runs (id INTEGER, name TEXT)")
    assert "pf_runs table of another schema" in error_of(db)


def test_directory_instead_of_a_file_says_so(tmp_path: Path) -> None:
    assert "is a directory" in error_of(tmp_path)


# ── the script ────────────────────────────────────────────────────────────────
def test_script_reads_the_database_after_the_double_dash(
    recorded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", [str(MONITOR_PY), str(recorded_db)])
    app = AppTest.from_file(str(MONITOR_PY), default_timeout=60).run()
    assert not app.exception
    assert "writer-bad" in list(app.dataframe[0].value["Run id"])


def test_script_without_a_database_explains_how_to_start_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "argv", [str(MONITOR_PY)])
    monkeypatch.delenv(DB_ENV, raising=False)
    app = AppTest.from_file(str(MONITOR_PY), default_timeout=60).run()
    assert not app.exception
    assert "No database given" in app.error[0].value


def test_a_checkpoint_that_is_not_json_is_reported_with_its_raw_text(recorded_db: Path) -> None:
    with sqlite3.connect(recorded_db) as conn:  # damage the copy, as a broken writer might
        conn.execute(
            "UPDATE pf_checkpoints SET store_json = '{\"cut' WHERE run_id = 'writer-ok' AND step = 5"
        )
    app = open_run(monitor(recorded_db), "writer-ok")
    store = tab(app, "Store")
    assert "is not valid JSON" in store.error[0].value
    assert store.expander[0].code[0].value == '{"cut'


def test_script_falls_back_to_the_database_in_the_environment(
    recorded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", [str(MONITOR_PY)])
    monkeypatch.setenv(DB_ENV, str(recorded_db))
    app = AppTest.from_file(str(MONITOR_PY), default_timeout=60).run()
    assert not app.exception
    assert "writer-ok" in list(app.dataframe[0].value["Run id"])
