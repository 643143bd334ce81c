"""``checkpoint_dir``: one JSON file per node, ``step_<NNN>_<Node>.json``, written atomically.

The payload is the one ``Store.snapshot`` writes (``{"name": ..., "data": ...}``), so
``Store.restore(path)`` reads it back, as it did in PocoFlow.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
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


def file_name(step: int, node: str) -> str:
    return f"step_{step:03d}_{_UNSAFE.sub('_', node)}.json"


def write_checkpoint(directory: Path, step: int, node: str, name: str, data_json: str) -> Path:
    """Write the store JSON of ``step`` (already encoded by the codec) as a snapshot file."""
    payload = f'{{"name": {json.dumps(name)}, "data": {data_json}}}'
    return write_atomically(directory / file_name(step, node), payload)
