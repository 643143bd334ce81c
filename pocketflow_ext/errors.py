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


class RunTimeout(PocketFlowExtError, TimeoutError):
    """``RunHandle.wait(timeout)`` gave up before the run ended (the run keeps going)."""


class RunNotFound(PocketFlowExtError, LookupError):
    """No run with the given run id is recorded in the database."""


class ResumeError(PocketFlowExtError, ValueError):
    """A run cannot be resumed as asked: it completed, is still running, or the flow's graph
    no longer has the node it stopped after."""


class MonitorDatabaseError(PocketFlowExtError, ValueError):
    """The monitor cannot show a database: missing, empty, not SQLite, or another schema."""


class RecordingError(PocketFlowExtError, OSError):
    """A recording database or checkpoint directory cannot be used (unwritable, not SQLite, ...)."""


class RunExistsError(PocketFlowExtError, ValueError):
    """A run id is already recorded; run ids are never reused or overwritten."""


class StoreBusy(RecordingError):
    """The run store is locked, busy or unreachable right now; the write may be retried."""


class CheckpointDamaged(PocketFlowExtError, ValueError):
    """A recorded checkpoint cannot be decoded into a store (invalid JSON, wrong shape)."""


class ParallelConflict(PocketFlowExtError, ValueError):
    """Two branches of a ``Parallel`` group wrote the same store key and no reducer or
    ``merge`` says how to combine them."""


class ExecutorError(PocketFlowExtError, RuntimeError):
    """A node or item could not be sent to its ``executor=``, or its worker died."""
