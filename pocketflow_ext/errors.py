"""Every exception pocketflow-ext raises, each subclassing the builtin a user would catch."""

from __future__ import annotations


class PocketFlowExtError(Exception):
    """Marker base so callers can catch everything raised by pocketflow-ext on purpose."""


class StoreTypeError(PocketFlowExtError, TypeError):
    """A value written to a typed Store does not match its schema."""


class StoreValidationError(PocketFlowExtError, ValueError):
    """``Store.validate()`` found schema keys that are missing."""


class MaxStepsExceeded(PocketFlowExtError, RuntimeError):
    """A flow ran more nodes than its ``max_steps`` allows (usually an unintended loop)."""


class HookError(PocketFlowExtError, ValueError):
    """``flow.on()`` was given an event name that does not exist."""


class RunCancelled(PocketFlowExtError, RuntimeError):
    """A run was cancelled (``RunHandle.cancel()``); raised between nodes."""


class ConfigurationError(PocketFlowExtError, ValueError):
    """A constructor or function argument has an invalid value."""
