"""Many runs fanned out over a Dask cluster, every one recorded into one run store.

Each task builds its flow on the worker and runs it under a run id chosen here, so the
client knows where every run is recorded; a flow built here can also be sent as it is
(flows pickle: the store is re-opened on the worker by its path or URL). Use a
``postgresql://`` URL when workers run on several machines; an SQLite file serves
workers on one machine. Offline: a local two-process cluster and a fake LLM.

Run: ``python dask_runs.py [DB_PATH_OR_URL] [--runs N]`` (needs ``pocketflow-ext[dask]``).
"""

import argparse
import os
import tempfile
from collections import Counter
from pathlib import Path

from dask.distributed import Client, LocalCluster
from fake_llm import FakeLLM

from pocketflow_ext import Flow, Node, WorkflowDB

llm = FakeLLM()


class Outline(Node):
    def prep(self, shared):
        return shared["topic"]

    def exec(self, topic):
        return llm.complete(f"an outline about {topic}: why it matters, how it works, what next")

    def post(self, shared, prep_res, exec_res):
        shared["outline"] = exec_res


class Draft(Node):
    def prep(self, shared):
        return shared["outline"]

    def exec(self, outline):
        return llm.complete(f"a draft following {outline}")

    def post(self, shared, prep_res, exec_res):
        shared["draft"] = exec_res


def build(db: str, run_id: str | None = None) -> Flow:
    outline = Outline()
    outline >> Draft()
    return Flow(start=outline, db_path=db, flow_name="article", run_id=run_id)


def write_article(db: str, run_id: str, topic: str) -> str:
    """A Dask task: build the flow on the worker, run it, return what the client needs."""
    shared = {"topic": topic}
    build(db, run_id).run(shared)
    return shared["draft"]


def run_flow(flow: Flow, shared: dict) -> dict:
    """A Dask task receiving a flow built by the client."""
    flow.run(shared)
    return shared


def resume_run(db: str, run_id: str) -> dict:
    """A Dask task continuing an interrupted run (e.g. its worker died) from its checkpoint."""
    return dict(build(db).resume(run_id))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", nargs="?", help="run store (default: a temporary SQLite file)")
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()
    db = args.db or str(Path(tempfile.mkdtemp()) / "runs.db")
    run_ids = [f"article-{i:03d}" for i in range(args.runs)]
    topics = [f"topic {i}" for i in range(args.runs)]

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, Client(cluster) as client:
        futures = client.map(write_article, [db] * args.runs, run_ids, topics, pure=False)
        drafts = client.gather(futures)
        sent = client.submit(run_flow, build(db, "article-sent"), {"topic": "sent flows"})
        print("first draft:", drafts[0])
        print("sent flow drafted:", sent.result()["draft"])

    runs = [r for r in WorkflowDB(db).list_runs(limit=None) if r["flow_name"] == "article"]
    print("recorded runs:", len(runs), dict(Counter(r["status"] for r in runs)))
    print("recorded by the workers, not here:", all(r["pid"] != os.getpid() for r in runs))


if __name__ == "__main__":  # Dask starts its workers by spawning fresh interpreters
    main()
