"""EdgesMixin: ``node.then(action, target)`` chaining and the ``"*"`` wildcard edge."""

from __future__ import annotations

from typing import Any

WILDCARD = "*"


class Successors(dict):
    """Upstream's successor dict, plus: an action with no edge of its own follows ``"*"``.

    Upstream's ``get_next_node`` calls ``successors.get(action)``, so the wildcard works
    under an unmodified upstream ``Flow`` too.
    """

    __slots__ = ()

    def get(self, action: Any, default: Any = None) -> Any:
        if action in self:
            return self[action]
        return dict.get(self, WILDCARD, default)


class EdgesMixin:
    """Adds ``then``; ``>>`` and ``- "action" >>`` keep working, overwriting still warns."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.successors: dict[str, Any] = Successors(self.successors)

    def then(self, action: str, target: Any) -> Any:
        """Follow ``action`` to ``target``; ``"*"`` catches any action without an edge.

        Returns this node (not the target), so edges of one node chain:
        ``review.then("approve", publish).then("reject", revise)``.
        """
        if not isinstance(action, str):
            raise TypeError(
                f"action must be a string such as 'default' or '*', got {type(action).__name__}"
            )
        if target is None or not hasattr(target, "successors"):
            raise TypeError(f"then({action!r}, ...) needs a node or flow as target, got {target!r}")
        if not isinstance(self.successors, Successors):
            self.successors = Successors(self.successors)
        self.next(target, action)  # type: ignore[attr-defined]
        return self
