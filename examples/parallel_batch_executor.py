"""A CPU-bound batch on worker processes, and on a Dask cluster when Dask is installed.

Only ``exec`` travels: ``prep`` and ``post`` run here. ``python parallel_batch_executor.py
--dask`` starts a ``LocalCluster`` of 2 worker processes (``pip install
"pocketflow-ext[dask]"``); a real cluster's ``Client("tcp://scheduler:8786")`` works the same.
"""

import hashlib
import os
import sys

from pocketflow_ext import BatchNode, Flow


class Digest(BatchNode):
    """Hashes each chunk many times over: CPU work worth sending to other cores."""

    max_retries = 2  # per item, in the worker

    def prep(self, shared):
        return [f"chunk {i}".encode() for i in range(shared["chunks"])]

    def exec(self, chunk):
        for _ in range(20_000):
            chunk = hashlib.sha256(chunk).digest()
        return chunk.hex()[:12], os.getpid()

    def post(self, shared, prep_res, exec_res):
        shared["digests"] = [digest for digest, _ in exec_res]
        shared["exec_pids"] = {pid for _, pid in exec_res}


def run(executor, label):
    shared = {"chunks": 8}
    Flow(start=Digest(executor=executor)).run(shared)
    where = "this process" if shared["exec_pids"] == {os.getpid()} else "other processes"
    print(f"{label}: {shared['digests'][:2]} ... ({len(shared['digests'])} items, exec in {where})")
    return shared["digests"]


if __name__ == "__main__":  # worker processes import this module: run only as a script
    sequential = run(None, "sequential")
    assert run("processes", "processes") == sequential  # same results, same item order
    if "--dask" in sys.argv:
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, processes=True, dashboard_address=None) as cluster:
            with Client(cluster) as client:
                assert run(client.get_executor(), "dask") == sequential
