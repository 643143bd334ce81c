"""``pocketflow-ext graph SCRIPT.py``: the flows a script builds, as Mermaid or DOT text.

The script is imported, not run: its top level executes under another ``__name__``, so
its ``if __name__ == "__main__":`` block (where the flow would run) does not. Its flows
are the ``Flow`` objects among its globals; if it has none, the zero-argument functions
it defines whose name contains ``flow`` (``create_flow()``, ``build_qa_flow()``) are
called and the flows they return are used. Flows nested in another one found are drawn
inside it, not on their own.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import runpy
import sys
from pathlib import Path
from typing import Any

import pocketflow

from ..graph import base_name, graph_nodes, naming_root
from ..graph_export import to_dot, to_mermaid
from .output import fail, report

RUN_NAME = "__pocketflow_ext_graph__"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    graph = commands.add_parser(
        "graph",
        help="print the graph of the flows a script builds (Mermaid or DOT)",
        description="Import SCRIPT.py without running its __main__ block and print the "
        "graph of each flow it builds (module-level Flow objects, else the flows returned "
        "by its zero-argument *flow* functions).",
    )
    graph.add_argument("script", metavar="SCRIPT.py", help="the script that builds the flow")
    graph.add_argument(
        "--format", choices=("mermaid", "dot"), default="mermaid", help="default mermaid"
    )
    graph.add_argument(
        "--flow",
        metavar="NAME",
        help="only this flow: its variable or function name, or its flow name",
    )
    graph.set_defaults(handler=report(graph_command))


def graph_command(args: argparse.Namespace) -> int:
    script = Path(args.script)
    if not script.is_file():
        fail("graph", f"script not found: {script}")
    flows = script_flows(script)
    if args.flow:
        wanted = args.flow.removesuffix("()")
        flows = [
            (name, flow)
            for name, flow in flows
            if wanted in (name.removesuffix("()"), base_name(flow))
        ]
    if not flows:
        which = f" named {args.flow!r}" if args.flow else ""
        fail(
            "graph",
            f"{script} builds no flow{which} at import: keep the flow in a module-level "
            "variable or return it from a zero-argument function such as create_flow()",
        )
    render = to_mermaid if args.format == "mermaid" else to_dot
    comment = "%%" if args.format == "mermaid" else "//"
    for i, (name, flow) in enumerate(flows):
        if i:
            print()
        if len(flows) > 1:
            print(f"{comment} {name}")
        print(render(flow))
    return 0


def script_flows(script: Path) -> list[tuple[str, Any]]:
    """``(name, flow)`` for each top-level flow the script builds (see the module doc)."""
    saved_path, saved_argv = list(sys.path), list(sys.argv)
    sys.path.insert(0, os.path.dirname(os.path.realpath(script)))
    sys.argv = [str(script)]
    try:
        # What the script prints while imported goes to stderr: stdout is the picture.
        with contextlib.redirect_stdout(sys.stderr):
            namespace = runpy.run_path(str(script), run_name=RUN_NAME)
    except SystemExit as exc:
        fail("graph", f"{script} exited while being imported (status {exc.code})")
    except Exception as exc:
        fail("graph", f"importing {script} raised {type(exc).__name__}: {exc}")
    finally:
        sys.path[:], sys.argv[:] = saved_path, saved_argv
    found = [(k, v) for k, v in namespace.items() if isinstance(v, pocketflow.Flow)]
    if not found:
        found = _built_by_functions(namespace, script)
    return _outermost(found)


def _built_by_functions(namespace: dict[str, Any], script: Path) -> list[tuple[str, Any]]:
    found = []
    for name, value in namespace.items():
        if not (inspect.isfunction(value) and "flow" in name.lower()):
            continue
        if getattr(value, "__module__", None) != RUN_NAME:
            continue  # imported from elsewhere, not the script's own
        try:
            required = [
                p
                for p in inspect.signature(value).parameters.values()
                if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
        except (TypeError, ValueError):
            continue
        if required:
            continue
        try:
            with contextlib.redirect_stdout(sys.stderr):
                built = value()
        except Exception as exc:
            fail("graph", f"{script}: {name}() raised {type(exc).__name__}: {exc}")
        if isinstance(built, pocketflow.Flow):
            found.append((f"{name}()", built))
    return found


def _outermost(found: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Drop flows that are nodes of another flow found (drawn inside it) and duplicates."""
    inner: set[int] = set()
    todo = [flow for _, flow in found]
    while todo:  # every depth: a flow inside a nested flow is drawn inside it too
        for node in graph_nodes(naming_root(todo.pop())):
            if isinstance(node, pocketflow.Flow) and id(node) not in inner:
                inner.add(id(node))
                todo.append(node)
    seen: set[int] = set()
    outer = []
    for name, flow in found:
        if id(flow) in inner or id(flow) in seen:
            continue
        seen.add(id(flow))
        outer.append((name, flow))
    return outer
