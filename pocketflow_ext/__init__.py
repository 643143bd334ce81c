"""pocketflow-ext: production features for unmodified PocketFlow.

``from pocketflow_ext import Node, Flow, ...`` is a drop-in for ``from pocketflow import ...``:
each class is the upstream class with every mixin applied, dormant until used.
"""

from __future__ import annotations

import pocketflow as _upstream

from .errors import (
    ConfigurationError,
    HookError,
    MaxStepsExceeded,
    PocketFlowExtError,
    ResumeError,
    RunCancelled,
    RunNotFound,
    RunTimeout,
    StoreTypeError,
    StoreValidationError,
)
from .flows.handle import RunHandle
from .instrument import Instrumentation, instrument, is_instrumented, uninstrument
from .logging import get_logger, setup_logging
from .mixins import (
    AsyncBridgeMixin,
    AsyncResumeMixin,
    AsyncRetryMixin,
    BackgroundMixin,
    EdgesMixin,
    HooksMixin,
    NamedMixin,
    RecordingMixin,
    ResumeMixin,
    RetryMixin,
)
from .recording import WorkflowDB
from .store import MISSING, Store, Unserialisable
from .stream.events import EVENT_KINDS, Event
from .stream.scope import subscribe
from .subscribers import ConsoleTrace, EventLog

__version__ = "0.1.0"


class BaseNode(EdgesMixin, NamedMixin, _upstream.BaseNode):
    """Upstream ``BaseNode`` plus ``then`` and ``name``."""


# The retry mixins replace upstream's attempt loops (Node._exec, AsyncNode._exec), so each
# sits right before the upstream class whose loop it replaces, and after the upstream batch
# classes: their item loops call ``super(<batch class>, self)._exec(item)``, which must
# reach the mixin. Hence the mixin listed again after each upstream class.
class Node(BaseNode, RetryMixin, _upstream.Node):
    """Upstream ``Node`` plus ``then``, ``name`` and backoff/jitter/retry_on retries."""


class BatchNode(Node, _upstream.BatchNode, RetryMixin):
    """Upstream ``BatchNode`` with the ``Node`` extras; each item retries on its own."""


class AsyncNode(AsyncBridgeMixin, AsyncRetryMixin, Node, _upstream.AsyncNode, RetryMixin):
    """Upstream ``AsyncNode``; also runs inside a synchronous ``Flow``."""


class AsyncBatchNode(AsyncNode, BatchNode, _upstream.AsyncBatchNode, AsyncRetryMixin):
    """Upstream ``AsyncBatchNode`` with the ``AsyncNode`` extras."""


class AsyncParallelBatchNode(
    AsyncNode, BatchNode, _upstream.AsyncParallelBatchNode, AsyncRetryMixin
):
    """Upstream ``AsyncParallelBatchNode`` with the ``AsyncNode`` extras."""


class Flow(ResumeMixin, BackgroundMixin, RecordingMixin, HooksMixin, BaseNode, _upstream.Flow):
    """Upstream ``Flow`` plus hooks, ``flow_name``, ``max_steps``, resume and background runs."""


class BatchFlow(Flow, _upstream.BatchFlow):
    """Upstream ``BatchFlow`` with the ``Flow`` extras."""


class AsyncFlow(AsyncResumeMixin, Flow, AsyncNode, _upstream.AsyncFlow):
    """Upstream ``AsyncFlow`` with the ``Flow`` extras; ``flow.run(shared)`` also works."""


class AsyncBatchFlow(AsyncFlow, BatchFlow, _upstream.AsyncBatchFlow):
    """Upstream ``AsyncBatchFlow`` with the ``AsyncFlow`` extras."""


class AsyncParallelBatchFlow(AsyncFlow, BatchFlow, _upstream.AsyncParallelBatchFlow):
    """Upstream ``AsyncParallelBatchFlow`` with the ``AsyncFlow`` extras."""


__all__ = [
    "AsyncBatchFlow",
    "AsyncBatchNode",
    "AsyncBridgeMixin",
    "AsyncFlow",
    "AsyncNode",
    "AsyncParallelBatchFlow",
    "AsyncParallelBatchNode",
    "AsyncResumeMixin",
    "BackgroundMixin",
    "BaseNode",
    "BatchFlow",
    "BatchNode",
    "ConfigurationError",
    "ConsoleTrace",
    "EVENT_KINDS",
    "EdgesMixin",
    "Event",
    "EventLog",
    "Flow",
    "HookError",
    "HooksMixin",
    "Instrumentation",
    "MISSING",
    "MaxStepsExceeded",
    "NamedMixin",
    "Node",
    "PocketFlowExtError",
    "RecordingMixin",
    "ResumeError",
    "ResumeMixin",
    "RetryMixin",
    "RunCancelled",
    "RunHandle",
    "RunNotFound",
    "RunTimeout",
    "Store",
    "StoreTypeError",
    "StoreValidationError",
    "Unserialisable",
    "WorkflowDB",
    "get_logger",
    "instrument",
    "is_instrumented",
    "setup_logging",
    "subscribe",
    "uninstrument",
]
