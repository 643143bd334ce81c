"""What ``import pocketflow_ext`` offers: every exported name resolves, every error users catch
is importable from the top level, and mixins come only from ``pocketflow_ext.mixins``."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pocketflow_ext
from pocketflow_ext import errors, mixins

REPO = Path(__file__).resolve().parents[1]


def test_every_name_in_all_resolves() -> None:
    missing = [name for name in pocketflow_ext.__all__ if not hasattr(pocketflow_ext, name)]
    assert missing == []
    assert len(set(pocketflow_ext.__all__)) == len(pocketflow_ext.__all__)


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from pocketflow_ext import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(pocketflow_ext.__all__)


def test_every_error_class_is_exported_from_the_top_level() -> None:
    classes = {
        name: cls
        for name, cls in vars(errors).items()
        if inspect.isclass(cls)
        and issubclass(cls, BaseException)
        and cls.__module__ == errors.__name__
    }
    assert classes, "errors.py defines the exception classes"
    for name, cls in classes.items():
        assert getattr(pocketflow_ext, name, None) is cls, name
        assert name in pocketflow_ext.__all__, name
        # WaitingForAnswer is a pause, not an error: a BaseException so retries and
        # ``except Exception`` let it through (docs/human-in-the-loop.md).
        assert (
            issubclass(cls, pocketflow_ext.PocketFlowExtError)
            or cls is errors.PocketFlowExtError
            or cls is errors.WaitingForAnswer
        )


def test_every_error_class_named_in_the_docs_is_importable() -> None:
    texts = [p.read_text(encoding="utf-8") for p in [REPO / "README.md", *REPO.glob("docs/*.md")]]
    ours = {name for name in vars(errors) if not name.startswith("_")}
    named = set()
    for text in texts:
        named |= set(
            re.findall(
                r"(?<![.\w])[A-Z][A-Za-z]+(?:Error|Exceeded|Cancelled|NotFound|Timeout)\b", text
            )
        )
    documented = {name for name in named if not hasattr(sys.modules["builtins"], name)}
    assert documented, "the docs name some of our errors"
    assert documented <= ours, f"documented but not defined: {sorted(documented - ours)}"
    for name in documented:
        assert getattr(pocketflow_ext, name) is getattr(errors, name)


def test_mixins_come_from_pocketflow_ext_mixins_only() -> None:
    assert not [name for name in pocketflow_ext.__all__ if name.endswith("Mixin")]
    for name in mixins.__all__:
        assert inspect.isclass(getattr(mixins, name)) and name.endswith("Mixin")


def test_importing_the_package_imports_no_optional_extra() -> None:
    code = (
        "import sys, pocketflow_ext\n"
        "print(sorted(m for m in ('streamlit', 'pandas', 'orjson', 'pydantic') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
