"""``pocketflow-ext cache clear``: delete result-cache entries (all, one node's, old ones)."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from ..cache import lookup
from ..cache.policy import DEFAULT_DB, ENV_VAR
from ..errors import PocketFlowExtError
from ..runstore.open import is_url, open_store
from ..runstore.runs import iso
from .output import fail, report

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def age_seconds(text: str) -> float:
    """``7d``, ``12h``, ``30m``, ``45s``, ``2w`` or a plain number of seconds."""
    match = _AGE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected an age such as 7d, 12h, 30m, 45s or 2w, got {text!r}"
        )
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cache = commands.add_parser(
        "cache", help="manage the result cache", description="Manage the result cache."
    )
    actions = cache.add_subparsers(dest="cache_command", metavar="ACTION")
    actions.required = True
    clear = actions.add_parser(
        "clear",
        help="delete cached results",
        description="Delete cached node results: all of them, one node's, or old ones.",
    )
    clear.add_argument(
        "--db",
        metavar="DB",
        help=f"the run store holding the cache (default: ${ENV_VAR} or ./{DEFAULT_DB}); "
        "the db_path of your recorded flows when their nodes cache",
    )
    clear.add_argument("--node", metavar="NAME", help="only entries of this node")
    clear.add_argument(
        "--older-than",
        type=age_seconds,
        metavar="AGE",
        help="only entries created more than AGE ago (7d, 12h, 30m, 45s)",
    )
    cache.set_defaults(handler=report(cache_command))


def cache_command(args: argparse.Namespace) -> int:
    """Run the chosen action (``clear`` is the only one so far)."""
    return clear_command(args)


def clear_command(args: argparse.Namespace) -> int:
    location = args.db or os.environ.get(ENV_VAR) or DEFAULT_DB
    if not is_url(location) and not Path(location).expanduser().exists():
        fail(
            "cache clear", f"no cache database at {location}; pass the one your nodes use with --db"
        )
    cutoff = iso(lookup.clock() - args.older_than) if args.older_than is not None else None
    try:
        with open_store(location) as store:
            deleted = store.cache_clear(node=args.node, older_than=cutoff)
    except PocketFlowExtError as exc:
        fail("cache clear", str(exc))
    which = f" of node {args.node!r}" if args.node else ""
    age = " older than the given age" if cutoff else ""
    print(
        f"deleted {deleted} cached result{'' if deleted == 1 else 's'}{which}{age} from {location}"
    )
    return 0
