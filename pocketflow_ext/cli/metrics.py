"""``pocketflow-ext metrics``: serve run counts and durations read from a run store to
Prometheus: the view across every process and machine recording there."""

from __future__ import annotations

import argparse
import sys
import threading

from ..errors import PocketFlowExtError
from .database import open_recorded
from .options import db_help, port, positive_int
from .output import fail, report


def port_or_zero(text: str) -> int:
    """A port number; 0 picks a free one (the address served is printed to stderr)."""
    if text.strip() == "0":
        return 0
    return port(text)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    metrics = commands.add_parser(
        "metrics",
        help="serve Prometheus metrics read from a run store",
        description="Serve /metrics with run counts by flow and status and recent run "
        'durations, read from the run store at every scrape (needs "[metrics]"). For '
        "node-level metrics of a live process use `run --metrics-port`.",
    )
    metrics.add_argument("--db", metavar="DB_OR_URL", help=db_help())
    metrics.add_argument(
        "--port",
        type=port_or_zero,
        default=9464,
        metavar="N",
        help="default 9464; 0: any free port",
    )
    metrics.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDR",
        help="address to listen on (default 127.0.0.1; 0.0.0.0 lets another machine scrape)",
    )
    metrics.add_argument(
        "--window",
        type=positive_int,
        default=1000,
        metavar="N",
        help="duration quantiles over the N most recent finished runs (default 1000)",
    )
    metrics.add_argument(
        "--once", action="store_true", help="print the metrics once to stdout and exit"
    )
    metrics.set_defaults(handler=report(metrics_command))


def metrics_command(args: argparse.Namespace) -> int:
    try:
        from ..subscribers.metrics import prometheus, serve_metrics, store_registry

        pc = prometheus()
    except PocketFlowExtError as exc:
        fail("metrics", str(exc))
    db, db_path = open_recorded("metrics", args.db)
    registry = store_registry(db.store, args.window)
    if args.once:
        try:
            sys.stdout.write(pc.generate_latest(registry).decode())
        finally:
            db.close()
        return 0
    try:
        server = serve_metrics(args.port, addr=args.host, registry=registry)
    except PocketFlowExtError as exc:
        db.close()
        fail("metrics", str(exc))
    host, bound = server.server_address[:2]
    print(f"serving metrics of {db_path} on http://{host}:{bound}/metrics", file=sys.stderr)
    sys.stderr.flush()
    try:
        threading.Event().wait()  # until Ctrl+C or a signal
    except KeyboardInterrupt:
        return 130
    finally:
        server.shutdown()
        db.close()
    return 0
