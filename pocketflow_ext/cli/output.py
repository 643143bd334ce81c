"""How commands talk to the terminal: one-line errors with their exit status, and reports
that end quietly when the reader of a pipe goes away.

Bad usage exits with status 2, every other error with 1, always as one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import NoReturn

PROG = "pocketflow-ext"


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors pointing at ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def fail(command: str, message: str) -> NoReturn:
    """Stop with one clear line on stderr and exit status 1."""
    raise SystemExit(f"{PROG} {command}: error: {message}")


def usage_error(command: str, message: str) -> NoReturn:
    """Stop with one line on stderr pointing at ``--help``, exit status 2."""
    sys.stderr.write(f"{PROG} {command}: error: {message} (see {PROG} {command} --help)\n")
    raise SystemExit(2)


Command = Callable[[argparse.Namespace], int]


def report(command: Command) -> Command:
    """``command`` writing to stdout, which is often piped into ``head`` or ``less``: a
    reader that closes early ends the command quietly, as for any Unix tool."""

    def reporting(args: argparse.Namespace) -> int:
        try:
            status = command(args)
            sys.stdout.flush()
        except BrokenPipeError:
            # Point stdout at devnull so the interpreter's final flush does not raise again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        return status

    return reporting
