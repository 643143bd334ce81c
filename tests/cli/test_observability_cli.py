"""The observability commands and run flags, as users call them: graph, metrics, plugins,
run --metrics-port / --otel / --log-all and the webhook variables."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("prometheus_client")

Runner = Any  # the run_cli fixture of tests/cli/conftest.py
CONSOLE_SCRIPT = Path(sys.executable).with_name("pocketflow-ext")

SCRIPT = """
import logging
import pocketflow

log = logging.getLogger("app")

class Answer(pocketflow.Node):
    def exec(self, prep_res):
        log.warning("thinking")
        return 42

    def post(self, shared, prep_res, exec_res):
        shared["answer"] = exec_res

def create_flow():
    return pocketflow.Flow(start=Answer())

if __name__ == "__main__":
    shared = {}
    create_flow().run(shared)
    print("answer:", shared["answer"])
"""


@pytest.fixture
def app(tmp_path: Path) -> Path:
    path = tmp_path / "app.py"
    path.write_text(textwrap.dedent(SCRIPT))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_graph_prints_each_flow_a_script_builds_without_running_it(
    run_cli: Runner, example: Path
) -> None:
    done = run_cli("graph", example)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count("flowchart LR") == 2  # build_report_flow() and build_citation_flow()
    assert "%% build_report_flow()" in out and "%% build_citation_flow()" in out
    assert '-->|"math"|' in out and '-->|"lookup"|' in out
    assert "subgraph" in out  # the nested per-question flow


def test_graph_dot_of_one_flow_chosen_by_name(run_cli: Runner, example: Path) -> None:
    done = run_cli("graph", example, "--format", "dot", "--flow", "build_citation_flow")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("digraph flow {") == 1
    assert '"AsyncFlow/FetchCitation" [label="FetchCitation", penwidth=2];' in done.stdout


def test_graph_keeps_what_the_script_prints_off_stdout(run_cli: Runner, tmp_path: Path) -> None:
    (tmp_path / "noisy.py").write_text(
        "import pocketflow\nprint('hello from import')\nflow = pocketflow.Flow(start=pocketflow.Node())\n"
    )
    done = run_cli("graph", "noisy.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("flowchart LR") and "hello from import" in done.stderr


def test_graph_of_a_script_without_flows_says_how_to_expose_one(
    run_cli: Runner, tmp_path: Path
) -> None:
    (tmp_path / "empty.py").write_text("x = 1\n")
    done = run_cli("graph", "empty.py")
    assert done.returncode == 1
    assert "builds no flow at import" in done.stderr and "create_flow()" in done.stderr


def test_metrics_once_prints_run_counts_from_the_store(run_cli: Runner, app: Path) -> None:
    for _ in range(2):
        assert run_cli("run", "--no-trace", "--db", "runs.db", app).returncode == 0
    done = run_cli("metrics", "--db", "runs.db", "--once")
    assert done.returncode == 0, done.stderr
    assert 'pocketflow_ext_store_runs{flow="Flow",status="completed"} 2.0' in done.stdout
    assert 'pocketflow_ext_store_recent_runs{flow="Flow"} 2.0' in done.stdout
    assert 'pocketflow_ext_store_run_duration_seconds{flow="Flow",quantile="0.5"}' in done.stdout


def test_metrics_serves_the_store_over_http(run_cli: Runner, app: Path, tmp_path: Path) -> None:
    assert run_cli("run", "--no-trace", "--db", "runs.db", app).returncode == 0
    server = subprocess.Popen(
        [CONSOLE_SCRIPT, "metrics", "--db", "runs.db", "--port", "0"],
        cwd=tmp_path, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("POCKETFLOW_EXT_")},
    )  # fmt: skip
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        url = line.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics"), line
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        assert 'pocketflow_ext_store_runs{flow="Flow",status="completed"} 1.0' in text
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_metrics_without_a_database_says_so(run_cli: Runner) -> None:
    done = run_cli("metrics", "--db", "missing.db", "--once")
    assert done.returncode == 1 and "no recording database at missing.db" in done.stderr


def test_run_metrics_port_serves_the_scripts_own_metrics(run_cli: Runner, tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "scrape.py").write_text(
        textwrap.dedent(SCRIPT).replace('print("answer:", shared["answer"])', textwrap.dedent(f"""\
            import urllib.request
            text = urllib.request.urlopen("http://127.0.0.1:{port}/metrics").read().decode()
            print([l for l in text.splitlines() if l.startswith("pocketflow_ext_runs_total")])""").replace("\n", "\n    "))
    )  # fmt: skip
    done = run_cli("run", "--no-trace", "--db", "runs.db", "--metrics-port", str(port), "scrape.py")
    assert done.returncode == 0, done.stderr
    assert 'pocketflow_ext_runs_total{flow="Flow",status="completed"} 1.0' in done.stdout


def test_run_otel_follows_the_standard_variables(run_cli: Runner, app: Path) -> None:
    pytest.importorskip("opentelemetry.sdk")
    env = {"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "answers"}
    done = run_cli("run", "--no-trace", "--db", "runs.db", "--otel", app, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "answer: 42\n"  # spans go to stderr, never into the script's output
    assert '"name": "Flow/Answer"' in done.stderr and '"service.name": "answers"' in done.stderr


def test_run_otel_names_the_missing_exporter_package(run_cli: Runner, app: Path) -> None:
    pytest.importorskip("opentelemetry.sdk")
    try:
        import opentelemetry.exporter.otlp.proto.http  # noqa: F401

        pytest.skip("the OTLP exporter is installed")
    except ImportError:
        pass
    done = run_cli("run", "--db", "runs.db", "--otel", app, env={"OTEL_TRACES_EXPORTER": "otlp"})
    assert done.returncode == 1
    assert "pip install opentelemetry-exporter-otlp-proto-http" in done.stderr


def test_run_log_all_joins_the_scripts_own_log_lines_to_the_run(
    run_cli: Runner, app: Path, tmp_path: Path
) -> None:
    done = run_cli(
        "run", "--no-trace", "--db", "runs.db", "--log-format", "jsonl", "--log-dir", "logs",
        "--log-all", app,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (log_file,) = (tmp_path / "logs").glob("*.jsonl")
    records = [json.loads(line) for line in log_file.read_text().splitlines()]
    (mine,) = [r for r in records if r["logger"] == "app"]
    assert mine["msg"] == "thinking" and mine["node_path"] == "Flow/Answer"
    assert mine["run_id"] == next(r["run_id"] for r in records if r.get("event") == "flow_start")


def test_a_webhook_in_the_environment_is_notified_of_an_unmodified_scripts_run(
    run_cli: Runner, app: Path
) -> None:
    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {"POCKETFLOW_EXT_WEBHOOK_URL": f"http://127.0.0.1:{server.server_port}/"}
        done = run_cli("run", "--no-trace", "--db", "runs.db", app, env=env)
        assert done.returncode == 0, done.stderr
        for _ in range(100):  # delivered before the process exited; the server may lag
            if bodies:
                break
            time.sleep(0.05)
        assert [b["status"] for b in bodies] == ["completed"]
    finally:
        server.shutdown()
        server.server_close()


def test_plugins_alone_lists_them(run_cli: Runner) -> None:
    done = run_cli("plugins")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split() == ["NAME", "TARGET", "DISTRIBUTION", "STATE"]
    assert any(line.startswith("webhook ") for line in done.stdout.splitlines())
