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


class WaitingForAnswer(BaseException):
    """``interrupt(payload)`` (or ``halt_before``/``halt_after``) paused the run for an answer.

    A ``BaseException``, like ``KeyboardInterrupt``: retry loops, ``exec_fallback`` and a
    node's own ``except Exception`` let it through, and the run is recorded ``waiting``,
    not ``failed``. It leaves ``flow.run()`` so code after it does not run on a store the
    flow never finished; answer with ``flow.resume(run_id, answer=...)``.
    """

    def __init__(self, payload: object = None, *, path: str | None = None) -> None:
        super().__init__(payload)
        self.payload = payload
        self.path = path  # the node that asked (``Flow/Inner/Review``), set where it asked
        self.run_id: str | None = None
        self.flow_name: str | None = None
        self.reported = False  # run_waiting was delivered (once, by the innermost level)

    def __str__(self) -> str:
        if self.run_id is None:
            return (
                f"node {self.path!r} asked for an answer ({self.payload!r}), but no run records "
                "it: give the flow db_path= so the pause is recorded and can be answered"
            )
        return (
            f"run {self.run_id!r} of flow {self.flow_name!r} is waiting at {self.path!r} for an "
            f"answer to {self.payload!r}; answer it with flow.resume({self.run_id!r}, answer=...)"
        )


class NodeInputError(PocketFlowExtError, KeyError):
    """A function node (or a ``when=`` predicate) needs a store key that is not there."""

    def __str__(self) -> str:  # KeyError would show the message quoted, as a key
        return str(self.args[0]) if self.args else ""


class CacheError(PocketFlowExtError, ValueError):
    """A cache setting or a cached value cannot be used (bad policy, damaged entry)."""
