"""RetryMixin: backoff, max_delay, jitter and retry_on on top of upstream's retry loop.

Upstream's ``_exec`` keeps running the attempts (``max_retries``, ``wait``,
``exec_fallback``). The delay before each retry (and the ``node_retry`` event) comes from
the ``wait`` descriptor in ``retry_wait.py``. ``retry_on`` is honoured by a seam installed
the first time a node uses it (``retry_on.py``).
"""

from __future__ import annotations

import random
from typing import Any

from ..errors import ConfigurationError
from ..mro import NextInMro
from .retry_on import ANY_EXCEPTION, RetryOn, exception_types, exec_honouring_retry_on
from .retry_wait import RetryWait

# Own generator, seeded from the OS: jitter must never draw from (or disturb) the global one.
_jitter_random = random.Random()


def _number(value: Any, what: str, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ConfigurationError(f"{what} must be a number >= {minimum}, got {value!r}")
    return value


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
    retry_on = RetryOn()
    wait = RetryWait()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A plain ``wait = 2`` class attribute would hide the descriptor that sees failed
        # attempts; keep its value as the descriptor's default instead.
        value = cls.__dict__.get("wait")
        if value is not None and not isinstance(value, RetryWait):
            cls.wait = RetryWait(value)
        if "retry_on" in cls.__dict__:  # checked when a node is made (the error names it)
            _retry_on.install()

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
            self.retry_on = exception_types(retry_on)
            _retry_on.install()
        elif self.retry_on is not ANY_EXCEPTION:
            # Also catches a class attribute assigned after the class was defined.
            self.retry_on = exception_types(self.retry_on)
            _retry_on.install()

    def retry_delay_for(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        _retry_on.notice_late_setting(self)
        wait = getattr(self, "wait", 0) or 0
        delay = wait * self.backoff ** (attempt - 1)
        if self.max_delay is not None:
            delay = min(delay, self.max_delay)
        if self.jitter:
            delay += _jitter_random.uniform(0, self.jitter)
        return max(delay, wait)

    def _exec_with_retry_on(self, prep_res: Any) -> Any:
        """Becomes ``_exec`` once any node uses ``retry_on`` (see ``retry_on.py``)."""
        return exec_honouring_retry_on(self, prep_res, _next_exec[type(self)])


def _user_attrs(cls: type) -> set[str]:
    """Attribute names defined by the user's classes (not ours, not upstream's)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        module = klass.__module__
        if module == "pocketflow" or module.startswith("pocketflow_ext"):
            continue
        names.update(vars(klass))
    return names


_next_exec = NextInMro(RetryMixin, "_exec")
_retry_on: RetryOn = vars(RetryMixin)["retry_on"]
