"""Subscriber plugins: a real package pip-installed from tests/fixtures/demo_plugin into a
temporary directory, found through its entry points, switched on by name; broken plugins are
reported by name and never break a run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import pocketflow_ext
from pocketflow_ext import Flow, Node, plugins

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "demo_plugin"

SCRIPT = """
from pocketflow_ext import Flow, Node
class Work(Node):
    def post(self, shared, prep_res, exec_res):
        shared["done"] = True
shared = {}
Flow(start=Work()).run(shared)
print("done:", shared["done"])
"""


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo plugin installed (by pip, offline) into a directory of its own."""
    site = tmp_path_factory.mktemp("plugin_site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(site), str(FIXTURE)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert any(p.name.startswith("pfx_demo_plugin-1.0") for p in site.iterdir())
    return site


@pytest.fixture
def installed(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The plugin's directory on sys.path (importlib.metadata reads its dist-info)."""
    monkeypatch.syspath_prepend(str(plugin_site))
    yield plugin_site
    sys.modules.pop("pfx_demo_plugin", None)


def env_with(site: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    env.pop("POCKETFLOW_EXT_SUBSCRIBERS", None)
    env.update(extra)
    return env


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pocketflow_ext", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_installed_plugins_are_listed_with_ours(installed: Path) -> None:
    names = {p.name: p for p in plugins.available()}
    assert {"metrics", "otel", "webhook", "trace", "log"} <= set(names)
    assert names["demo"].target == "pfx_demo_plugin:EventsToFile"
    assert names["demo"].distribution == "pfx-demo-plugin 1.0"


def test_a_plugin_named_in_instrument_receives_every_run(
    installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "events.txt"
    monkeypatch.setenv("DEMO_PLUGIN_OUT", str(out))

    class Work(Node):
        pass

    with pocketflow_ext.instrument(subscribers=["demo"]):
        Flow(start=Work()).run({})
    assert out.read_text().splitlines() == [
        "flow_start Flow",
        "node_end Flow/Work",
        "flow_end Flow",
    ]


def test_plugins_named_in_the_environment_are_switched_on_by_instrument(
    installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "events.txt"
    monkeypatch.setenv("DEMO_PLUGIN_OUT", str(out))
    monkeypatch.setenv("POCKETFLOW_EXT_SUBSCRIBERS", " demo , ")

    class Work(Node):
        pass

    with pocketflow_ext.instrument():
        Flow(start=Work()).run({})
    assert "node_end Flow/Work" in out.read_text()


def test_a_plugin_that_fails_to_import_is_reported_by_name_and_left_out(installed: Path) -> None:
    with pytest.warns(plugins.PluginWarning, match="'demo-broken'.*ModuleNotFoundError"):
        loaded, failed = plugins.load_all(["demo-broken", "log"])
    assert [each.name for each in loaded] == ["log"]
    assert "pfx_demo_plugin.missing" in failed["demo-broken"]


def test_an_unknown_plugin_name_lists_the_installed_ones(installed: Path) -> None:
    with pytest.raises(LookupError, match=r"no subscriber plugin named 'nope' \(installed: .*demo"):
        plugins.load("nope")


def test_a_plugin_that_raises_is_warned_about_by_name_and_the_run_completes(
    installed: Path,
) -> None:
    (subscriber,) = plugins.load_all(["demo-raises"])[0]

    class Work(Node):
        def post(self, shared, prep_res, exec_res):
            shared["ran"] = True

    shared: dict[str, bool] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Flow(start=Work()).subscribe(subscriber).run(shared)
    assert shared == {"ran": True}
    messages = [str(w.message) for w in caught if issubclass(w.category, plugins.PluginWarning)]
    assert len(messages) == 1 and "'demo-raises' raised" in messages[0]


def test_plugins_list_shows_each_plugin_and_whether_it_loads(
    plugin_site: Path, tmp_path: Path
) -> None:
    done = cli("plugins", "list", env=env_with(plugin_site), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines()[1:]}
    assert "pfx-demo-plugin 1.0" in lines["demo"] and lines["demo"].endswith("ok")
    assert "error: ModuleNotFoundError" in lines["demo-broken"]
    assert lines["metrics"].endswith("ok")


def test_run_subscriber_switches_a_plugin_on_for_an_unmodified_script(
    plugin_site: Path, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(textwrap.dedent(SCRIPT))
    out = tmp_path / "events.txt"
    env = env_with(plugin_site, DEMO_PLUGIN_OUT=str(out))
    done = cli("run", "--no-trace", "--db", "runs.db", "--subscriber", "demo", "app.py",
               env=env, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "done: True\n"
    assert out.read_text().splitlines()[-1] == "flow_end Flow"


def test_a_broken_plugin_in_the_environment_never_breaks_the_script(
    plugin_site: Path, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(textwrap.dedent(SCRIPT))
    env = env_with(plugin_site, POCKETFLOW_EXT_SUBSCRIBERS="demo-broken,demo-raises,nope")
    done = cli("run", "--no-trace", "--db", "runs.db", "app.py", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "done: True\n"
    assert "'demo-broken' could not be switched on" in done.stderr
    assert "'nope' could not be switched on" in done.stderr
    assert "'demo-raises' raised on a flow_start event" in done.stderr
