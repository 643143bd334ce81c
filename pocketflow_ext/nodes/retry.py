"""RetryMixin: backoff, max_delay, jitter and retry_on on top of upstream's retry loop.

Upstream's ``_exec`` keeps running the attempts (``max_retries``, ``wait``,
``exec_fallback``). While a node runs with retry extras configured or inside an observed
flow, its ``exec``/``exec_async`` is shadowed for that one call by an attempt wrapper that
emits ``node_retry``, sleeps the backoff beyond upstream's ``wait``, and turns an
exception outside ``retry_on`` into an immediate fallback.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import ConfigurationError
from ..stream import dispatch
from ..stream.scope import Frame, current_frame

# Own generator, seeded from the OS: jitter must never draw from (or disturb) the global one.
_jitter_random = random.Random()


_ANY_EXCEPTION: tuple[type[BaseException], ...] = (Exception,)

# What ``super()._exec`` is for each class, looked up once: the lookup runs for every node
# executed, and a zero-argument ``super()`` walks the MRO on each call.
_next_exec: dict[type, Callable[..., Any]] = {}


def _find_next_exec(cls: type) -> Callable[..., Any]:
    found = _next_exec[cls] = getattr(super(RetryMixin, cls), "_exec")
    return found


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

    def _retry_extras(self) -> bool:
        return (
            self.backoff != 1.0
            or self.max_delay is not None
            or bool(self.jitter)
            or (self.retry_on is not _ANY_EXCEPTION and self.retry_on != _ANY_EXCEPTION)
        )

    def _exec(self, prep_res: Any) -> Any:
        if self.max_retries <= 1:  # checked first: the common case pays for nothing else
            upstream = _next_exec.get(type(self)) or _find_next_exec(type(self))
            return upstream(self, prep_res)
        frame = current_frame()
        if frame is None and not self._retry_extras():
            return super()._exec(prep_res)  # type: ignore[misc]
        is_async = _async_exec.get(type(self))
        if is_async is None:  # a property of the class's MRO, so computed once per class
            is_async = asyncio.iscoroutinefunction(getattr(super(), "_exec", None))
            _async_exec[type(self)] = is_async
        if is_async:
            return self._exec_async_attempts(prep_res, frame)
        wrapper = _SyncAttempts(self, getattr(self, "exec"), frame)
        self.exec = wrapper  # shadows the class's exec for this call only
        try:
            return super()._exec(prep_res)  # type: ignore[misc]
        except _GiveUp as give_up:
            failure = give_up.exc
        finally:
            if self.__dict__.get("exec") is wrapper:
                del self.exec
        raise failure

    async def _exec_async_attempts(self, prep_res: Any, frame: Frame | None) -> Any:
        wrapper = _AsyncAttempts(self, getattr(self, "exec_async"), frame)
        self.exec_async = wrapper
        try:
            return await super()._exec(prep_res)  # type: ignore[misc]
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


class _Attempts:
    """Counts failed attempts per thread or asyncio task, so parallel batch items don't mix."""

    def __init__(self, node: Any, original: Callable[[Any], Any], frame: Frame | None) -> None:
        self.node, self.original, self.frame = node, original, frame
        self.failures: dict[Any, int] = {}

    def _failed(self, key: Any, exc: Exception) -> float | None:
        """Record a failure; the delay to sleep before retrying, or None to stop retrying."""
        node = self.node
        attempt = self.failures.get(key, 0) + 1
        if attempt >= node.max_retries or not isinstance(exc, node.retry_on):
            self.failures.pop(key, None)
            return None
        self.failures[key] = attempt
        delay = node.retry_delay_for(attempt)
        if self.frame is not None and self.frame.node is not None:
            dispatch.node_retry(self.frame, attempt, exc, delay)
        return delay

    def _extra_sleep(self, delay: float) -> float:
        # Upstream sleeps ``wait`` itself after we re-raise.
        return delay - (getattr(self.node, "wait", 0) or 0)


class _SyncAttempts(_Attempts):
    def __call__(self, prep_res: Any) -> Any:
        try:
            result = self.original(prep_res)
        except Exception as exc:
            delay = self._failed(threading.get_ident(), exc)
            if delay is None:
                if isinstance(exc, self.node.retry_on):
                    raise  # last attempt: upstream calls exec_fallback
                try:
                    return self.node.exec_fallback(prep_res, exc)
                except Exception as fallback_exc:
                    raise _GiveUp(fallback_exc) from None
            extra = self._extra_sleep(delay)
            if extra > 0:
                time.sleep(extra)
            raise
        if self.failures:  # only after a failure: the happy path stays cheap
            self.failures.pop(threading.get_ident(), None)
        return result


class _AsyncAttempts(_Attempts):
    async def __call__(self, prep_res: Any) -> Any:
        try:
            result = await self.original(prep_res)
        except Exception as exc:
            delay = self._failed(id(asyncio.current_task()), exc)
            if delay is None:
                if isinstance(exc, self.node.retry_on):
                    raise
                try:
                    return await self.node.exec_fallback_async(prep_res, exc)
                except Exception as fallback_exc:
                    raise _GiveUp(fallback_exc) from None
            extra = self._extra_sleep(delay)
            if extra > 0:
                await asyncio.sleep(extra)
            raise
        if self.failures:
            self.failures.pop(id(asyncio.current_task()), None)
        return result
