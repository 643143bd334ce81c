"""PrometheusMetrics scraped over HTTP from serve_metrics: run counts, in-progress gauge,
durations by node path, retries, errors, cache hits and skips; multi-process mode."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("prometheus_client")

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from pocketflow_ext import ConfigurationError, Event, Flow, Node
from pocketflow_ext.subscribers.metrics import PrometheusMetrics, serve_metrics

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def port(registry: CollectorRegistry) -> Iterator[int]:
    server = serve_metrics(0, registry=registry)
    yield server.server_port
    server.shutdown()
    server.server_close()


class Flaky(Node):
    max_retries = 3

    def exec(self, prep_res: Any) -> str:
        if self.cur_retry < 2:
            raise ConnectionError("rate limited")
        return "ok"


class Broken(Node):
    def exec(self, prep_res: Any) -> None:
        raise ValueError("bad input")


def test_completed_runs_and_node_durations_by_path_are_scraped(
    registry: CollectorRegistry, port: int
) -> None:
    inner = Flow(start=Node(), flow_name="Inner")
    flaky = Flaky()
    flaky >> inner
    flow = Flow(start=flaky, flow_name="Pipeline").subscribe(PrometheusMetrics(registry))
    flow.run({})
    flow.run({})
    samples = scrape(port)
    assert (
        samples[("pocketflow_ext_runs_total", (("flow", "Pipeline"), ("status", "completed")))] == 2
    )
    assert samples[("pocketflow_ext_runs_in_progress", (("flow", "Pipeline"),))] == 0
    assert samples[("pocketflow_ext_run_duration_seconds_count", (("flow", "Pipeline"),))] == 2
    for node in ("Pipeline/Flaky", "Pipeline/Inner", "Pipeline/Inner/Node"):
        labels = (("flow", "Pipeline"), ("node", node))
        assert samples[("pocketflow_ext_node_duration_seconds_count", labels)] == 2
        assert (
            samples[
                (
                    "pocketflow_ext_node_duration_seconds_bucket",
                    (*labels[:1], ("le", "+Inf"), labels[1]),
                )
            ]
            == 2
        )
    retries = (("flow", "Pipeline"), ("node", "Pipeline/Flaky"))
    assert samples[("pocketflow_ext_node_retries_total", retries)] == 4  # 2 per run
    assert not any("run_id" in dict(labels) for _, labels in samples)  # bounded labels


def test_failed_runs_and_node_errors_are_counted(registry: CollectorRegistry, port: int) -> None:
    flow = Flow(start=Broken()).subscribe(PrometheusMetrics(registry))
    with pytest.raises(ValueError):
        flow.run({})
    samples = scrape(port)
    assert samples[("pocketflow_ext_runs_total", (("flow", "Flow"), ("status", "failed")))] == 1
    assert (
        samples[("pocketflow_ext_node_errors_total", (("flow", "Flow"), ("node", "Flow/Broken")))]
        == 1
    )


def test_cache_hits_and_skips_are_counted_by_event_kind(
    registry: CollectorRegistry, port: int
) -> None:
    metrics = PrometheusMetrics(registry)
    for kind in ("cache_hit", "cache_hit", "node_skip"):
        metrics(Event(kind=kind, run_id="r", flow_name="F", path="F/Summarise", ts=0.0))
    samples = scrape(port)
    labels = (("flow", "F"), ("node", "F/Summarise"))
    assert samples[("pocketflow_ext_cache_hits_total", labels)] == 2
    assert samples[("pocketflow_ext_node_skips_total", labels)] == 1


def test_only_the_kinds_it_counts_are_built_for_it() -> None:
    metrics = PrometheusMetrics(CollectorRegistry())
    assert not metrics.wants("node_start") and not metrics.wants("custom")
    assert metrics.wants("node_end") and metrics.wants("cache_hit")


def test_two_subscribers_on_one_registry_share_its_metrics(registry: CollectorRegistry) -> None:
    first, second = PrometheusMetrics(registry), PrometheusMetrics(registry)
    Flow(start=Node()).subscribe(first).run({})
    Flow(start=Node()).subscribe(second).run({})
    value = registry.get_sample_value(
        "pocketflow_ext_runs_total", {"flow": "Flow", "status": "completed"}
    )
    assert value == 2


def test_a_taken_port_is_a_clear_error(port: int) -> None:
    with pytest.raises(ConfigurationError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
        serve_metrics(port, registry=CollectorRegistry())


WORKER = """
import sys
from pocketflow_ext import Flow, Node, subscribe
from pocketflow_ext.subscribers.metrics import PrometheusMetrics
subscribe(PrometheusMetrics())
class Work(Node):
    pass
for _ in range(int(sys.argv[1])):
    Flow(start=Work(), flow_name="Worker").run({})
"""


def test_multiprocess_mode_serves_the_sum_over_worker_processes(tmp_path: Path) -> None:
    directory = tmp_path / "prom"
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    workers = [
        subprocess.Popen([sys.executable, str(script), str(n)], env=env, cwd=tmp_path)
        for n in (2, 3)
    ]
    assert [w.wait(timeout=120) for w in workers] == [0, 0]
    server = serve_metrics(0, multiprocess_dir=str(directory))
    try:
        samples = scrape(server.server_port)
    finally:
        server.shutdown()
        server.server_close()
    assert (
        samples[("pocketflow_ext_runs_total", (("flow", "Worker"), ("status", "completed")))] == 5
    )
    node = (("flow", "Worker"), ("node", "Worker/Work"))
    assert samples[("pocketflow_ext_node_duration_seconds_count", node)] == 5


def test_a_missing_multiprocess_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not a directory; create it"):
        serve_metrics(0, multiprocess_dir=str(tmp_path / "nope"))
