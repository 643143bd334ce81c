"""Prometheus metrics of every run in this process, served on /metrics and scraped once.

Offline: the server listens on 127.0.0.1 on a free port and this script is its scraper.
With a real Prometheus, serve on a fixed port (serve_metrics(9464)) and add it as a target.
"""

import urllib.request

from prometheus_client import CollectorRegistry

import pocketflow_ext
from pocketflow_ext import Flow, Node
from pocketflow_ext.subscribers.metrics import PrometheusMetrics, serve_metrics


class Fetch(Node):
    max_retries = 2

    def exec(self, prep_res):
        if self.cur_retry == 0:
            raise ConnectionError("flaky network")
        return "page"


class Summarise(Node):
    pass


registry = CollectorRegistry()  # default: prometheus_client's global registry
pocketflow_ext.subscribe(PrometheusMetrics(registry))  # every flow run in this process
server = serve_metrics(0, registry=registry)  # 0: any free port

fetch = Fetch()
fetch >> Summarise()
for _ in range(3):
    Flow(start=fetch, flow_name="digest").run({})

url = f"http://127.0.0.1:{server.server_port}/metrics"
text = urllib.request.urlopen(url).read().decode()
for line in text.splitlines():
    if line.startswith(("pocketflow_ext_runs_total", "pocketflow_ext_node_retries_total")) or (
        line.startswith("pocketflow_ext_node_duration_seconds_count")
    ):
        print(line)
server.shutdown()
