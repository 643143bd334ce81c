"""``pocketflow-ext run``: run a script or module as ``python`` would, but instrumented.

The script gets ``__name__ == "__main__"``, its own ``sys.argv``, its directory first on
``sys.path`` and the inherited stdin/stdout; its exit status is what ``python`` would give
(``sys.exit`` codes pass through, an uncaught exception prints its traceback and exits 1).
Instrumentation is removed at interpreter exit, after the script's own threads finished.
With ``--resume RUN_ID`` the script's first run of that run's flow continues it
(``flows/resume/pending.py``).
"""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import json
import os
import re
import runpy
import shlex
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import PocketFlowExtError, WaitingForAnswer
from ..flows.resume import PendingResume, resume_next_run
from ..flows.resume.warning import resumed_before_message
from ..instrument import instrument, uninstrument
from ..logging import setup_logging
from ..runstore.location import is_url, masked
from ..runstore.workflow_db import WorkflowDB
from ..stream.scope import subscribe
from ..subscribers.trace import ENV_VAR as TRACE_ENV_VAR
from .metrics import port_or_zero
from .options import db_help, default_db
from .output import PROG, fail, usage_error
from .run_destinations import RunDestinations, script_command

# Frames of ours (and runpy's) that sit above the script's own in a traceback.
_OUR_FILES = {
    os.path.normcase(os.path.abspath(path))
    for path in (__file__, runpy.__file__, os.path.join(os.path.dirname(__file__), "main.py"))
}

# Options of `run` that take a value, so the script name is found without guessing.
_VALUE_OPTIONS = (
    "--db",
    "--resume",
    "--trace-mode",
    "--log-dir",
    "--log-format",
    "--halt-before",
    "--halt-after",
    "--step",
    "--set",
    "--subscriber",
    "--metrics-port",
)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser(
        "run",
        help="run a PocketFlow script recorded (and traced to stderr)",
        description="Run an unmodified PocketFlow script with every flow run recorded to the "
        "database and traced to stderr. The script's stdout, stdin, arguments and exit code "
        "are its own.",
        usage=f"{PROG} run [options] [--resume RUN_ID] (SCRIPT.py | -m MODULE) [ARGS ...]",
    )
    run.add_argument("--db", metavar="PATH|URL", help=db_help())
    run.add_argument(
        "--resume",
        metavar="RUN_ID",
        help="continue this failed, cancelled or interrupted run of the database: the "
        "script's first run of that flow restores the run's last checkpoint and starts "
        "after its last completed node",
    )
    add_script_options(run)
    run.set_defaults(handler=_checked_run)


def add_script_options(run: argparse.ArgumentParser) -> None:
    """The options of every command that runs a script (``run``, ``answer``, ``fork``)."""
    run.add_argument(
        "--halt-before",
        metavar="NODE",
        action="append",
        default=[],
        help="pause the run before this node (repeatable); answer it with pocketflow-ext answer",
    )
    run.add_argument(
        "--halt-after",
        metavar="NODE",
        action="append",
        default=[],
        help="pause the run after this node (repeatable)",
    )
    trace = run.add_mutually_exclusive_group()
    trace.add_argument(
        "--trace", dest="trace", action="store_true", default=None, help="print the trace (default)"
    )
    trace.add_argument("--no-trace", dest="trace", action="store_false", help="no trace")
    run.add_argument(
        "--trace-mode",
        choices=("friendly", "plain"),
        help=f"trace style (default: ${TRACE_ENV_VAR}, else friendly on a terminal, plain otherwise)",
    )
    run.add_argument("--log-dir", metavar="DIR", help="also log every event to a file in DIR")
    run.add_argument(
        "--log-format",
        choices=("text", "jsonl", "both"),
        help="log file format (default: text; implies logging to ./logs without --log-dir)",
    )
    run.add_argument(
        "--log-all",
        action="store_true",
        help="also write the script's own log records (any logger) to the log file, each "
        "with the run id and node path it was written in",
    )
    run.add_argument(
        "--subscriber",
        action="append",
        default=[],
        metavar="NAME",
        help="switch on an installed subscriber plugin (repeatable; see `plugins list`; "
        "also $POCKETFLOW_EXT_SUBSCRIBERS=a,b)",
    )
    run.add_argument(
        "--metrics-port",
        type=port_or_zero,
        metavar="N",
        help='serve Prometheus metrics on port N while the script runs (needs "[metrics]")',
    )
    run.add_argument(
        "--otel",
        action="store_true",
        help="send OpenTelemetry traces as the standard OTEL_* variables say "
        '(needs "[otel]"; see docs/tracing.md)',
    )
    run.add_argument("-m", dest="module", metavar="MODULE", help="run a module, like python -m")
    run.add_argument("script", nargs="?", metavar="SCRIPT.py", help="the script to run")
    run.add_argument(
        "args", nargs=argparse.REMAINDER, metavar="ARGS", help="the script's arguments"
    )


def split_run_args(argv: Sequence[str], positionals: int = 0) -> tuple[list[str], list[str]]:
    """Split ``run``'s arguments into ours (options and the script or ``-m MODULE``) and the
    script's own, which may look like options too (``run app.py -v`` passes ``-v`` on).

    ``positionals``: how many positionals of the command's own come first (``answer``'s
    RUN_ID and JSON); they are moved right before the script so argparse, which matches
    positionals in runs between options, reads them together with it.
    """
    rest = list(argv)
    taken: list[str] = []
    i = 0
    while i < len(rest):
        token = rest[i]
        if token == "--":
            own, script_args = [*rest[:i], *rest[i + 1 : i + 2]], rest[i + 2 :]
            break
        if token == "-m":
            own, script_args = rest[:i] + taken + rest[i : i + 2], rest[i + 2 :]
            return own, script_args
        if token.startswith("-m") and not token.startswith("--"):
            return rest[:i] + taken + rest[i : i + 1], rest[i + 1 :]
        if token in _VALUE_OPTIONS:
            i += 2
        elif token.startswith("-"):
            i += 1
        elif len(taken) < positionals:
            taken.append(rest.pop(i))
        else:
            own, script_args = rest[: i + 1], rest[i + 1 :]
            break
    else:
        return [*rest, *taken], []
    return [*own[:-1], *taken, *own[-1:]] if own else taken, script_args


def _checked_run(args: argparse.Namespace) -> int:
    check_script(args, "run")
    return run_command(args, args.script_args)


def check_script(args: argparse.Namespace, command: str) -> None:
    if args.script is None and not args.module and getattr(args, "args", None):
        # argparse hands a script after options to the remainder when positionals of the
        # command's own (answer's RUN_ID JSON) came before those options.
        args.script, rest = args.args[0], args.args[1:]
        args.script_args = [*rest, *args.script_args]
    if args.module and args.script:
        usage_error(command, f"give a script or -m MODULE, not both ({args.script!r})")
    if not args.module and not args.script:
        usage_error(command, f"give the script to run: pocketflow-ext {command} ... SCRIPT.py")


def run_command(
    args: argparse.Namespace, script_args: list[str], pending: PendingResume | None = None
) -> int:
    """Run the script recorded; ``pending``: a run its flow continues (``answer``,
    ``fork``), else ``--resume``'s, if given."""
    script: str | None = args.script
    module: str | None = args.module
    if script is not None:
        if not Path(script).is_file():
            fail("run", f"script not found: {script}")
        sys.argv = [script, *script_args]
        # As `python script.py` does: the script's directory comes first on sys.path.
        sys.path[0] = os.path.dirname(os.path.realpath(script))
    else:
        assert module is not None
        sys.argv = [module, *script_args]
        sys.path[0] = os.getcwd()  # as `python -m` does
        _check_module(module)
    trace = _trace_choice(args)
    if args.log_dir or args.log_format or args.log_all:
        name = Path(script).stem if script else (module or "run").rpartition(".")[2]
        setup_logging(name, log_dir=args.log_dir, log_format=args.log_format, capture=args.log_all)
    db_path = _db_path(args.db)
    if pending is None and getattr(args, "resume", None):
        pending = _pending_resume(db_path, args.resume)
    created = not os.path.lexists(db_path)
    try:
        active = instrument(
            db_path=db_path,
            trace=trace,
            halt_before=args.halt_before,
            halt_after=args.halt_after,
            subscribers=[*args.subscriber, *_asked_for(args)],
        )
    except (PocketFlowExtError, OSError) as exc:
        fail("run", str(exc))
    destinations = RunDestinations(active.db, script_command(script, module, script_args), created)
    # atexit runs last-registered first: the report comes after uninstrument, when the
    # script's own threads have finished and every run has ended.
    atexit.register(destinations.report, db_path)
    unsubscribe = subscribe(destinations)
    atexit.register(unsubscribe)
    atexit.register(uninstrument)
    try:
        if script is not None:
            runpy.run_path(script, run_name="__main__")
        else:
            runpy.run_module(module, run_name="__main__", alter_sys=True)  # type: ignore[arg-type]
    except SystemExit as exc:
        if exc.code in (None, 0):
            _check_resumed(pending, script or f"-m {module}")
        raise  # Python itself turns these into the exit status, as for a plain run
    except KeyboardInterrupt:
        raise
    except WaitingForAnswer as exc:  # a pause is a clean stop: exit 0, say how to answer
        _check_resumed(pending, script or f"-m {module}")
        target = [script] if script is not None else ["-m", str(module)]
        print(waiting_message(exc, db_path, shlex.join([*target, *script_args])), file=sys.stderr)
        return 0
    except BaseException as exc:
        if pending is not None and exc is pending.error:
            # the resume (answer, fork) was refused before any node ran
            fail(getattr(args, "command", None) or "run", str(exc))
        tb = _script_frames(exc.__traceback__)
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        return 1
    _check_resumed(pending, script or f"-m {module}")
    return 0


def _asked_for(args: argparse.Namespace) -> list[Any]:
    """The metrics and tracing subscribers ``--metrics-port`` and ``--otel`` ask for; any
    problem (extra not installed, port taken) stops here, before the script starts."""
    chosen: list[Any] = []
    try:
        if args.metrics_port is not None:
            from ..subscribers.metrics import PrometheusMetrics, serve_metrics

            chosen.append(PrometheusMetrics())
            serve_metrics(args.metrics_port)
        if args.otel:
            from ..subscribers.otel import OpenTelemetryTracer, provider_from_env

            chosen.append(OpenTelemetryTracer(provider_from_env()))
    except PocketFlowExtError as exc:
        fail("run", str(exc))
    return chosen


def _db_path(given: str | None) -> str:
    if given is None:
        return default_db()
    if not given.strip():
        fail(
            "run",
            f"--db is empty; pass a file path (--db runs.db) or leave --db out for {default_db()}",
        )
    if os.path.isdir(given):
        fail(
            "run",
            f"--db {given} is a directory; pass a file path such as "
            f"{os.path.join(given, 'runs.db')}",
        )
    return given


def pending_run(command: str, db_path: str, run_id: str, **how: Any) -> PendingResume:
    """Make the script's next run continue run ``run_id`` recorded at ``db_path`` (resume,
    answer or fork it: ``how``); a missing database file or a refused run fails ``command``."""
    if not is_url(db_path) and not Path(db_path).is_file():
        # Never created here: continuing needs the database the run was recorded in.
        where = f"--resume {run_id}: " if command == "run" else ""
        fail(command, f"{where}no recording database at {db_path}; pass --db PATH")
    try:
        return resume_next_run(db_path, run_id, **how)
    except PocketFlowExtError as exc:
        fail(command, str(exc))


def _pending_resume(db_path: str, run_id: str) -> PendingResume:
    pending = pending_run("run", db_path, run_id)
    _warn_if_resumed_before(db_path, run_id)
    return pending


def _warn_if_resumed_before(db_path: str, run_id: str) -> None:
    """Say on stderr, before the script starts, that this run was already resumed to the
    end; the same warning from the resume itself is then not repeated."""
    with WorkflowDB(db_path, readonly=True) as db:
        run = db.get_run(run_id)
    message = resumed_before_message(run) if run else None
    if message is not None:
        sys.stderr.write(f"pocketflow-ext run: warning: {message}\n")
        warnings.filterwarnings("ignore", message=re.escape(message), category=UserWarning)


def waiting_message(exc: WaitingForAnswer, db_path: str, script: str) -> str:
    """What a pause prints on stderr: the question and the ``answer`` line for ``script``
    (already shell-quoted, with its arguments); a URL's password is masked, as everywhere."""
    question = json.dumps(exc.payload, ensure_ascii=False)
    return (
        f"{PROG}: run {exc.run_id} of flow {exc.flow_name!r} is waiting at {exc.path} for an "
        f"answer to: {question}\nanswer it with:\n  {PROG} answer {shlex.quote(str(exc.run_id))} "
        f"'<JSON answer>' --db {shlex.quote(masked(db_path))} {script}"
    )


def _check_resumed(pending: PendingResume | None, script: str) -> None:
    if pending is not None and not pending.claimed:
        fail(
            "run",
            f"{script} never ran flow {pending.flow_name!r}, so run {pending.run_id!r} was "
            "not resumed; run the script that recorded it",
        )


def _trace_choice(args: argparse.Namespace) -> bool | str:
    if args.trace is False:
        return False
    if args.trace_mode:
        return str(args.trace_mode)
    # Default on: tracing is what `run` is for; $POCKETFLOW_EXT_TRACE may still say off.
    if args.trace is None and os.environ.get(TRACE_ENV_VAR, "").strip().lower() == "off":
        return False
    return True


def _check_module(module: str) -> None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        fail("run", f"cannot find module {module!r}: {exc}")
    if spec is None:
        fail("run", f"no module named {module!r} (looked in the current directory and sys.path)")


def _script_frames(tb: TracebackType | None) -> TracebackType | None:
    """The traceback from the script's first frame on, as a plain ``python`` run shows it."""
    while tb is not None and _is_ours(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return tb


def _is_ours(filename: str) -> bool:
    return filename.startswith("<frozen runpy") or os.path.normcase(filename) in _OUR_FILES
