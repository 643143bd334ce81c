"""``retry_on``: exceptions outside it skip the remaining attempts and go to ``exec_fallback``.

Upstream's retry loop retries every ``Exception``. Honouring ``retry_on`` needs a seam
around that loop (``_exec``) that shadows ``exec`` for the call. The seam runs once per
node execution, so it is only installed (on ``RetryMixin``, for every node from then on)
the first time any node or class configures ``retry_on``: programs that never use it
never pay for it. ``RetryOn`` is the data descriptor that notices an assignment on a node;
``RetryMixin`` notices class attributes and constructor arguments.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from typing import Any

from ..errors import ConfigurationError

ANY_EXCEPTION: tuple[type[BaseException], ...] = (Exception,)


def exception_types(value: Any) -> tuple[type[BaseException], ...]:
    types = value if isinstance(value, tuple) else (value,)
    if not types or not all(isinstance(t, type) and issubclass(t, Exception) for t in types):
        raise ConfigurationError(
            f"retry_on must be an Exception subclass or a tuple of them, got {value!r}"
        )
    return types


class RetryOn:
    """Data descriptor for ``retry_on`` on the mixin: reads give the node's value (or the
    default, any exception); assigning one checks it and installs the seam."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.owner = owner

    def __get__(self, node: Any, owner: type | None = None) -> Any:
        if node is None:
            return ANY_EXCEPTION
        return node.__dict__.get("retry_on", ANY_EXCEPTION)

    def __set__(self, node: Any, value: Any) -> None:
        node.__dict__["retry_on"] = exception_types(value)
        self.install()

    def install(self) -> None:
        """From now on, every node of the mixin honours its ``retry_on``: the mixin's
        ``_exec_with_retry_on`` becomes its ``_exec``, the seam upstream calls."""
        if not self.installed():
            setattr(self.owner, "_exec", vars(self.owner)["_exec_with_retry_on"])

    def installed(self) -> bool:
        return "_exec" in vars(self.owner)

    def notice_late_setting(self, node: Any) -> None:
        """Called before a retry. A ``retry_on`` this node has although the seam is missing
        was assigned to its class after the node was made: install the seam for the next
        executions and say so (this one already runs upstream's loop, which retries all)."""
        if self.installed() or node.retry_on is ANY_EXCEPTION:
            return
        self.install()
        warnings.warn(
            f"retry_on of {type(node).__name__} was set on the class after its nodes were "
            "created, so this execution retries every exception; it applies from the next "
            "execution on. Set retry_on in the class body, as a constructor argument or on "
            "the node.",
            stacklevel=2,
        )


# Whether a class's upstream ``_exec`` is a coroutine function (AsyncNode and friends).
_async_exec: dict[type, bool] = {}


def exec_honouring_retry_on(self: Any, prep_res: Any, upstream: Callable[..., Any]) -> Any:
    """Run upstream's ``_exec`` loop so that exceptions outside ``retry_on`` fail fast."""
    if self.max_retries <= 1 or self.retry_on is ANY_EXCEPTION:
        return upstream(self, prep_res)  # upstream's loop as it is
    is_async = _async_exec.get(type(self))
    if is_async is None:  # a property of the class's MRO, so computed once per class
        is_async = _async_exec[type(self)] = asyncio.iscoroutinefunction(upstream)
    if is_async:
        return _exec_async(self, prep_res, upstream)
    wrapper = _FailFast(self, getattr(self, "exec"))
    self.exec = wrapper  # shadows the class's exec for this call only
    try:
        return upstream(self, prep_res)
    except _GiveUp as give_up:
        failure = give_up.exc
    finally:
        if self.__dict__.get("exec") is wrapper:
            del self.exec
    raise failure


async def _exec_async(self: Any, prep_res: Any, upstream: Callable[..., Any]) -> Any:
    wrapper = _FailFastAsync(self, getattr(self, "exec_async"))
    self.exec_async = wrapper
    try:
        return await upstream(self, prep_res)
    except _GiveUp as give_up:
        failure = give_up.exc
    finally:
        if self.__dict__.get("exec_async") is wrapper:
            del self.exec_async
    raise failure


class _GiveUp(BaseException):
    """Carries a fallback's exception past upstream's ``except Exception`` retry loop."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__()
        self.exc = exc


class _FailFast:
    """``exec`` for one call: an exception outside ``retry_on`` skips the remaining attempts.

    The fallback's result is returned as if ``exec`` had succeeded, which is exactly where
    upstream's loop would have put it; a fallback that raises is carried past the loop.
    """

    def __init__(self, node: Any, original: Callable[[Any], Any]) -> None:
        self.node, self.original = node, original

    def __call__(self, prep_res: Any) -> Any:
        try:
            return self.original(prep_res)
        except Exception as exc:
            if isinstance(exc, self.node.retry_on):
                raise
            try:
                return self.node.exec_fallback(prep_res, exc)
            except Exception as fallback_exc:
                raise _GiveUp(fallback_exc) from None


class _FailFastAsync(_FailFast):
    async def __call__(self, prep_res: Any) -> Any:
        try:
            return await self.original(prep_res)
        except Exception as exc:
            if isinstance(exc, self.node.retry_on):
                raise
            try:
                return await self.node.exec_fallback_async(prep_res, exc)
            except Exception as fallback_exc:
                raise _GiveUp(fallback_exc) from None
