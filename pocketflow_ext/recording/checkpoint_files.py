"""``checkpoint_dir``: one folder per run, one JSON file per node, written atomically.

``<checkpoint_dir>/<run id>/step_<NNN>_<Node>.json``, the step as recorded in the event.
The payload is the one ``Store.snapshot`` writes (``{"name": ..., "data": ...}``), so
``Store.restore(path)`` reads it back, as it did in PocoFlow.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import urllib.parse
from pathlib import Path

from ..errors import RecordingError
from ..store.store import write_atomically

# Node names are free text; keep file names portable (no separators or odd characters).
_UNSAFE = re.compile(r"[^A-Za-z0-9._#-]+")


def prepare_dir(checkpoint_dir: str | os.PathLike[str]) -> Path:
    """Create ``checkpoint_dir`` and prove it writable now, before any node runs."""
    if not isinstance(checkpoint_dir, (str, os.PathLike)) or not str(checkpoint_dir):
        raise RecordingError(f"checkpoint_dir must be a directory path, got {checkpoint_dir!r}")
    path = Path(checkpoint_dir).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise RecordingError(
            f"checkpoint_dir {path} cannot be used: {exc.strerror or exc}; "
            "choose a writable directory"
        ) from None
    return path


def run_folder(run_id: str) -> str:
    """The folder name of a run: its id, with characters that are unsafe in file names
    percent-encoded (``nightly 1:2`` -> ``nightly%201%3A2``), so no two runs share one and
    none escapes ``checkpoint_dir`` (``..``)."""
    name = urllib.parse.quote(run_id, safe="-_.~#@+=,")
    return "%2E" + name[1:] if name.startswith(".") else name


def file_name(step: int, node: str) -> str:
    return f"step_{step:03d}_{_UNSAFE.sub('_', node)}.json"


def write_checkpoint(directory: Path, run_id: str, step: int, node: str, data_json: str) -> Path:
    """Write the store JSON of ``step`` of ``run_id`` (already encoded by the codec) as a
    snapshot file in the run's folder (created on its first checkpoint)."""
    payload = f'{{"name": {json.dumps(f"{run_id}@step{step}")}, "data": {data_json}}}'
    return write_atomically(directory / run_folder(run_id) / file_name(step, node), payload)
