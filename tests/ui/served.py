"""Waiting for a Streamlit server started as a real process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the monitor exited with {process.returncode} before serving")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"the monitor did not answer at {url} within {timeout} s")


@contextmanager
def serving(command: Sequence[str], port: int, cwd: Path) -> Iterator[str]:
    """Run ``command`` (a Streamlit server on ``port``) until the block ends; yields its
    loopback URL. Streamlit settings come only from ``command`` (none from the environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    # No browser tab of its own, no usage statistics.
    env.update(STREAMLIT_SERVER_HEADLESS="true", STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    process = subprocess.Popen(
        list(command),
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # `pocketflow-ext monitor` starts streamlit: stop both together
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, process)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
