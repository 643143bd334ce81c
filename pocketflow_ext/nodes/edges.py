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
    """Adds ``then``; ``>>`` and ``- "action" >>`` keep working, overwriting still warns.

    Successors become a :class:`Successors` only when a ``"*"`` edge is added (through
    ``then``, ``next``, ``>>`` or ``- "*" >>``), so nodes without one keep upstream's plain
    dict and its C-speed lookup on every step.
    """

    def next(self, node: Any, action: str = "default") -> Any:
        if action == WILDCARD and not isinstance(self.successors, Successors):  # type: ignore[has-type]
            self.successors = Successors(self.successors)  # type: ignore[has-type]
        return super().next(node, action)  # type: ignore[misc]

    def then(self, action: str, target: Any) -> Any:
        """Follow ``action`` to ``target``; ``"*"`` catches any action without an edge.

        Returns this node (not the target), so edges of one node chain:
        ``review.then("approve", publish).then("reject", revise)``.
        """
        if not isinstance(action, str):
            raise TypeError(
                f"action must be a string such as 'default' or '*', got {type(action).__name__}"
            )
        if isinstance(target, (list, tuple)):  # fan-out: FanOutMixin's next makes the group
            self.next(target, action)
            return self
        if target is None or not hasattr(target, "successors"):
            raise TypeError(f"then({action!r}, ...) needs a node or flow as target, got {target!r}")
        self.next(target, action)
        return self
