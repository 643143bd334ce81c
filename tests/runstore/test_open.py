"""open_store: which store a path or URL selects, the key writers share a store by, and
that recording to SQLite never loads the PostgreSQL driver."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from pocketflow_ext import Flow, Node
from pocketflow_ext.errors import ConfigurationError, RecordingError
from pocketflow_ext.runstore import open_store, store_key


class Step(Node):
    pass


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_server_fails_the_flow_build_without_creating_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"postgresql://ada:s3cret@127.0.0.1:{closed_port()}/runs"
    with pytest.raises(RecordingError, match="cannot be reached") as caught:
        Flow(start=Step(), db_path=url)
    assert "postgresql://ada:***@127.0.0.1" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_both_url_schemes_select_the_postgresql_store(postgres_url: str, scheme: str) -> None:
    url = scheme + postgres_url[postgres_url.index(":") :]
    with open_store(url) as store:
        assert type(store).__name__ == "PostgresRunStore"


def test_a_libpq_keyword_string_selects_the_postgresql_store(postgres_url: str) -> None:
    parts = urllib.parse.urlsplit(postgres_url)
    keywords = (
        f"host={parts.hostname} port={parts.port} dbname={parts.path.lstrip('/')} "
        f"user={parts.username} password={parts.password}"
    )
    with open_store(keywords) as store:
        assert type(store).__name__ == "PostgresRunStore"
        assert parts.password not in repr(store) and "password=***" in store.location


def test_one_file_has_one_key_however_it_is_spelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert store_key("runs.db") == store_key(tmp_path / "sub" / ".." / "runs.db")
    assert store_key("postgresql://h/db") == "postgresql://h/db"


@pytest.mark.parametrize("bad", ["", None, 3])
def test_a_missing_or_mistyped_location_is_a_configuration_error(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="db_path must be a file path"):
        open_store(bad)  # type: ignore[arg-type]


def test_the_read_only_commands_name_an_unreachable_server_without_its_password() -> None:
    url = f"postgresql://ada:s3cret@127.0.0.1:{closed_port()}/runs"
    done = subprocess.run(
        [sys.executable, "-m", "pocketflow_ext", "runs", url], capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "cannot be reached" in done.stderr and "ada:***@" in done.stderr
    assert "s3cret" not in done.stderr


def test_recording_to_sqlite_never_imports_the_postgresql_driver(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from pocketflow_ext import Flow, Node\n"
        f"Flow(start=Node(), db_path={str(tmp_path / 'runs.db')!r}).run({{}})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('psycopg', 'psycopg_pool')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_url_without_the_postgres_extra_says_what_to_install(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "sys.modules['psycopg'] = None  # as if pocketflow-ext[postgres] were not installed\n"
        "from pocketflow_ext import Flow, Node\n"
        "Flow(start=Node(), db_path='postgresql://ada:s3cret@db.example/runs')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode != 0
    assert 'pip install "pocketflow-ext[postgres]"' in done.stderr
    assert "ada:***@db.example" in done.stderr and "s3cret" not in done.stderr
    assert list(tmp_path.iterdir()) == []
