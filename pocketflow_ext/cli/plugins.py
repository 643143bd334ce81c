"""``pocketflow-ext plugins list``: the subscriber plugins installed, and whether each loads."""

from __future__ import annotations

import argparse
import json

from .. import plugins
from .output import report


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "plugins",
        help="list installed subscriber plugins",
        description=f"Subscriber plugins are entry points of the group {plugins.GROUP!r}; "
        "switch them on with `run --subscriber NAME` or "
        f"${plugins.ENV_VAR}=NAME,NAME.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    parser.set_defaults(handler=report(list_command), json=False)  # `plugins` alone lists
    listing = actions.add_parser("list", help="list them (imports each to check it loads)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(handler=report(list_command))


def list_command(args: argparse.Namespace) -> int:
    rows = []
    for plugin in plugins.available():
        try:
            plugin.load()  # imports the module; nothing is built or started
            state = "ok"
        except Exception as exc:
            state = f"error: {type(exc).__name__}: {exc}"
        rows.append(
            {
                "name": plugin.name,
                "target": plugin.target,
                "distribution": plugin.distribution,
                "state": state,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no subscriber plugins installed (entry-point group {plugins.GROUP})")
        return 0
    columns = ("NAME", "TARGET", "DISTRIBUTION", "STATE")
    table = [(r["name"], r["target"], r["distribution"], r["state"]) for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in table)) for i, c in enumerate(columns)]
    for row in (columns, *table):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0
