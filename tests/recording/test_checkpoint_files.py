"""checkpoint_dir: one folder per run, so runs of one flow never overwrite each other's files."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pocketflow_ext import Flow, Node, Store
from pocketflow_ext.recording.checkpoint_files import run_folder
from pocketflow_ext.stream.scope import RunOptions, run_options

pytestmark = pytest.mark.timeout(60)


class Tag(Node):
    """Writes its run's tag into the store, after waiting for the other run to start too."""

    def __init__(self, both_started: threading.Barrier) -> None:
        super().__init__()
        self.both_started = both_started

    def post(self, shared, prep_res, exec_res):
        self.both_started.wait()
        shared.setdefault("seen", []).append(shared["tag"])


def test_two_runs_of_one_flow_write_their_files_into_their_own_folders(tmp_path: Path) -> None:
    barrier = threading.Barrier(2)
    first, second = Tag(barrier), Tag(barrier)
    first >> second
    flow = Flow(start=first, checkpoint_dir=tmp_path / "ck")

    def run(run_id: str) -> None:
        with run_options(RunOptions(run_id=run_id)):
            flow.run({"tag": run_id})

    threads = [threading.Thread(target=run, args=(r,)) for r in ("tag-a", "tag-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["tag-a", "tag-b"]
    for run_id in ("tag-a", "tag-b"):
        files = sorted((tmp_path / "ck" / run_id).iterdir())
        # Step numbers as recorded (whatever the first step is numbered).
        steps = [int(f.name[5:8]) for f in files]
        assert [f.name[9:] for f in files] == ["Tag.json", "Tag#2.json"]
        assert steps[1] == steps[0] + 1
        restored = Store.restore(files[-1])
        assert restored == {"tag": run_id, "seen": [run_id, run_id]}
        assert restored.name == f"{run_id}@step{steps[1]}"


@pytest.mark.parametrize(
    ("run_id", "folder"),
    [
        ("summarise-3f9a1b2c", "summarise-3f9a1b2c"),
        ("nightly 1:2", "nightly%201%3A2"),
        ("..", "%2E."),
        ("%2E.", "%252E."),
        ("C:\\runs", "C%3A%5Cruns"),
    ],
)
def test_a_run_folder_is_the_run_id_with_unsafe_characters_encoded(
    run_id: str, folder: str, tmp_path: Path
) -> None:
    assert run_folder(run_id) == folder
    flow = Flow(start=Tag(threading.Barrier(1)), checkpoint_dir=tmp_path / "ck", run_id=run_id)
    flow.run({"tag": "t"})
    assert [p.name for p in (tmp_path / "ck").iterdir()] == [folder]
    [file] = (tmp_path / "ck" / folder).iterdir()
    assert file.name.endswith("_Tag.json") and Store.restore(file)["seen"] == ["t"]
