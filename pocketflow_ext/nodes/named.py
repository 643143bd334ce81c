"""NamedMixin: ``Node(name=...)`` sets the name events, checkpoints and resume use."""

from __future__ import annotations

from typing import Any

from ..graph import check_label


class NamedMixin:
    """Accept ``name=`` in the constructor; without it the class name is used."""

    def __init__(self, *args: Any, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if name is not None:
            self.name = check_label(name, "name")
