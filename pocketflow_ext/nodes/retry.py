"""RetryMixin: backoff, max_delay, jitter and retry_on on top of upstream's retry loop.

Upstream's ``_exec`` keeps running the attempts (``max_retries``, ``wait``,
``exec_fallback``). The delay before each retry (and the ``node_retry`` event) comes from
the ``wait`` descriptor in ``retry_wait.py``. Only with ``retry_on`` set is ``exec`` shadowed
for the call, so an exception outside ``retry_on`` goes to ``exec_fallback`` at once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

from ..errors import ConfigurationError
from ..mro import NextInMro
from .retry_wait import RetryWait

# Own generator, seeded from the OS: jitter must never draw from (or disturb) the global one.
_jitter_random = random.Random()


_ANY_EXCEPTION: tuple[type[BaseException], ...] = (Exception,)

# Whether a class's upstream ``_exec`` is a coroutine function (AsyncNode and friends).
_async_exec: dict[type, bool] = {}


class _GiveUp(BaseException):
    """Carries a fallback's exception past upstream's ``except Exception`` retry loop."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__()
        self.exc = exc


def _number(value: Any, what: str, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ConfigurationError(f"{what} must be a number >= {minimum}, got {value!r}")
    return value


def _exception_types(value: Any) -> tuple[type[BaseException], ...]:
    types = value if isinstance(value, tuple) else (value,)
    if not types or not all(isinstance(t, type) and issubclass(t, Exception) for t in types):
        raise ConfigurationError(
            f"retry_on must be an Exception subclass or a tuple of them, got {value!r}"
        )
    return types


class RetryMixin:
    """Upstream retry semantics, PocoFlow class attributes, and backoff with jitter.

    ``max_retries`` counts attempts (upstream's meaning); ``wait`` (or PocoFlow's
    ``retry_delay``) is the delay before the second attempt; each later delay is multiplied
    by ``backoff`` and capped at ``max_delay``; ``jitter`` adds up to that many random
    seconds; only exceptions in ``retry_on`` are retried, others go to ``exec_fallback`` at once.
    """

    backoff: float = 1.0
    max_delay: float | None = None
    jitter: float = 0.0
    retry_on: tuple[type[BaseException], ...] = _ANY_EXCEPTION
    wait = RetryWait()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A plain ``wait = 2`` class attribute would hide the descriptor that sees failed
        # attempts; keep its value as the descriptor's default instead.
        value = cls.__dict__.get("wait")
        if value is not None and not isinstance(value, RetryWait):
            cls.wait = RetryWait(value)

    def __init__(
        self,
        *args: Any,
        backoff: float | None = None,
        max_delay: float | None = None,
        jitter: float | None = None,
        retry_on: Any = None,
        retry_delay: float | None = None,
        **kwargs: Any,
    ) -> None:
        cls = type(self)
        explicit_retries = len(args) >= 1 or "max_retries" in kwargs
        explicit_wait = len(args) >= 2 or "wait" in kwargs
        super().__init__(*args, **kwargs)
        # Upstream's constructor writes max_retries=1, wait=0 on the instance, which would
        # hide PocoFlow-style class attributes; put the class's values back.
        if not explicit_retries and "max_retries" in _user_attrs(cls):
            self.max_retries = getattr(cls, "max_retries")
        if retry_delay is not None:
            self.wait = _number(retry_delay, "retry_delay", 0)
        elif not explicit_wait:
            attrs = _user_attrs(cls)
            if "retry_delay" in attrs:
                self.wait = getattr(cls, "retry_delay")
            elif "wait" in attrs:
                self.wait = getattr(cls, "wait")
        retries = getattr(self, "max_retries", 1)
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 1:
            raise ConfigurationError(
                f"max_retries of {cls.__name__} counts attempts and must be an int >= 1, "
                f"got {retries!r}"
            )
        _number(getattr(self, "wait", 0), "wait", 0)
        # Only set on the instance when given, so upstream's per-step copy stays cheap;
        # values from class attributes get the same checks, named after the class.
        if backoff is not None:
            self.backoff = _number(backoff, "backoff", 1)
        elif self.backoff != 1.0:
            _number(self.backoff, f"{cls.__name__}.backoff", 1)
        if max_delay is not None:
            self.max_delay = _number(max_delay, "max_delay", 0)
        elif self.max_delay is not None:
            _number(self.max_delay, f"{cls.__name__}.max_delay", 0)
        if jitter is not None:
            self.jitter = _number(jitter, "jitter", 0)
        elif self.jitter:
            _number(self.jitter, f"{cls.__name__}.jitter", 0)
        if retry_on is not None:
            self.retry_on = _exception_types(retry_on)
        elif self.retry_on is not _ANY_EXCEPTION:
            self.retry_on = _exception_types(self.retry_on)

    def retry_delay_for(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        wait = getattr(self, "wait", 0) or 0
        delay = wait * self.backoff ** (attempt - 1)
        if self.max_delay is not None:
            delay = min(delay, self.max_delay)
        if self.jitter:
            delay += _jitter_random.uniform(0, self.jitter)
        return max(delay, wait)

    def _exec(self, prep_res: Any) -> Any:
        upstream = _next_exec[type(self)]
        if self.max_retries <= 1 or self.retry_on is _ANY_EXCEPTION:
            return upstream(self, prep_res)  # the common case: upstream's loop as it is
        is_async = _async_exec.get(type(self))
        if is_async is None:  # a property of the class's MRO, so computed once per class
            is_async = _async_exec[type(self)] = asyncio.iscoroutinefunction(upstream)
        if is_async:
            return self._exec_retry_on_async(prep_res, upstream)
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

    async def _exec_retry_on_async(self, prep_res: Any, upstream: Callable[..., Any]) -> Any:
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


def _user_attrs(cls: type) -> set[str]:
    """Attribute names defined by the user's classes (not ours, not upstream's)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        module = klass.__module__
        if module == "pocketflow" or module.startswith("pocketflow_ext"):
            continue
        names.update(vars(klass))
    return names


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


_next_exec = NextInMro(RetryMixin, "_exec")
