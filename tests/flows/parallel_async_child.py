"""An async flow whose group loops forever in two branches (an async one, and a sync flow on
a thread) until the parent sends SIGINT. ``python parallel_async_child.py DB``."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import pocketflow_ext as pf

DB = sys.argv[1]


class AsyncTick(pf.AsyncNode):
    async def exec_async(self, prep_res: Any) -> Any:
        Path(DB + ".started").touch()
        await asyncio.sleep(0.02)

    async def post_async(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        return "again"


class SyncTick(pf.Node):
    def exec(self, prep_res: Any) -> Any:
        time.sleep(0.02)

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        return "again"


def looping(node: Any, flow_class: Any, name: str) -> Any:
    node - "again" >> node
    return flow_class(start=node, flow_name=name)


start = pf.Node(name="Start")
start >> [looping(AsyncTick(), pf.AsyncFlow, "x"), looping(SyncTick(), pf.Flow, "y")]
flow = pf.AsyncFlow(start=start, flow_name="af", db_path=DB)
try:
    asyncio.run(flow.run_async({}))
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
