"""Every documented way to start the monitor listens on loopback only (real processes; the
listening sockets are read from ``/proc/net/tcp*``)."""

from __future__ import annotations

import ipaddress
import shlex
import sys
from pathlib import Path

import pytest
from served import free_port, serving

REPO = Path(__file__).resolve().parents[2]
MONITOR_PY = REPO / "pocketflow_ext" / "ui" / "monitor.py"

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc/net"),
]


def listening_addresses(port: int) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Local addresses of the TCP sockets in LISTEN state on ``port``."""
    found: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A: TCP_LISTEN
                continue
            # /proc prints each 32-bit word of the address in host (little-endian) order.
            raw = b"".join(
                bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, len(address), 8)
            )
            found.add(ipaddress.ip_address(raw))
    return found


def documented_command(doc: Path, needle: str) -> list[str]:
    """The first command line in ``doc`` containing ``needle`` (comment after ``#`` dropped)."""
    for line in doc.read_text().splitlines():
        if needle in line and line.lstrip().startswith(("streamlit", "pocketflow-ext", "python")):
            return shlex.split(line.split("  #")[0])
    raise AssertionError(f"{doc.name} documents no command with {needle!r}")


def on_port(command: list[str], port: int) -> list[str]:
    """``command`` with ``--server.port``/``--port`` added before the script's arguments."""
    flag = ["--port", str(port)] if command[0] == "pocketflow-ext" else ["--server.port", str(port)]
    cut = command.index("--") if "--" in command else len(command)
    return [*command[:cut], *flag, *command[cut:]]


def as_process(command: list[str]) -> list[str]:
    """The documented line run with this interpreter (``streamlit``/``pocketflow-ext`` as
    modules, so the test does not depend on which scripts are on PATH)."""
    module = {"streamlit": "streamlit", "pocketflow-ext": "pocketflow_ext"}[command[0]]
    return [sys.executable, "-m", module, *command[1:]]


def assert_loopback_only(port: int) -> None:
    addresses = listening_addresses(port)
    assert addresses, f"nothing listens on port {port}"
    assert all(a.is_loopback for a in addresses), f"listening on {sorted(map(str, addresses))}"


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ("docs/monitor.md", "pocketflow-ext monitor"),
        ("docs/monitor.md", "streamlit run pocketflow_ext/ui/monitor.py"),
        ("docs/monitor.md", "streamlit run examples/monitor_embed.py"),
    ],
)
def test_documented_command_listens_on_loopback_only(
    recorded_db: Path, doc: str, needle: str
) -> None:
    command = documented_command(REPO / doc, needle)
    command = [str(recorded_db) if arg == "runs.db" else arg for arg in command]
    port = free_port()
    with serving(as_process(on_port(command, port)), port, cwd=REPO):
        assert_loopback_only(port)


def test_plain_streamlit_run_binds_every_interface_which_is_why_docs_pass_the_address(
    recorded_db: Path,
) -> None:
    """Streamlit itself binds ``::`` when no address is given: the page cannot change that,
    so the documented lines must pass ``--server.address``."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(MONITOR_PY)]
    with serving([*command, "--server.port", str(port), "--", str(recorded_db)], port, REPO):
        assert not all(a.is_loopback for a in listening_addresses(port))
