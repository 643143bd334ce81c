"""pocketflow-ext: production features for unmodified PocketFlow.

``from pocketflow_ext import Node, Flow, ...`` is a drop-in for ``from pocketflow import ...``:
each class is the upstream class with every mixin applied, dormant until used. The mixins
themselves, for adopting one feature at a time, are in :mod:`pocketflow_ext.mixins`.
"""

from __future__ import annotations

import pocketflow as _upstream

from . import mixins  # the drop-in classes are built from them; import them from there
from .cache import Cache
from .errors import (
    CacheError,
    CheckpointDamaged,
    ConfigurationError,
    ExecutorError,
    HookError,
    MaxStepsExceeded,
    NodeInputError,
    ParallelConflict,
    PocketFlowExtError,
    RecordingError,
    ResumeError,
    RunCancelled,
    RunExistsError,
    RunNotFound,
    RunTimeout,
    StoreBusy,
    StoreTypeError,
    StoreValidationError,
    WaitingForAnswer,
)
from .flows.handle import RunHandle
from .flows.interrupt import interrupt
from .instrument import Instrumentation, instrument, is_instrumented, uninstrument
from .logging import get_logger, setup_logging
from .nodes.function import Action, node, task
from .nodes.parallel import Parallel
from .runstore import WorkflowDB
from .store import MISSING, Store, Unserialisable
from .stream.emit import emit
from .stream.events import EVENT_KINDS, Event
from .stream.scope import subscribe
from .subscribers import ConsoleTrace, EventLog

__version__ = "0.1.0"


class BaseNode(
    mixins.FanOutMixin, mixins.EdgesMixin, mixins.NamedMixin, mixins.CopyMixin, _upstream.BaseNode
):
    """Upstream ``BaseNode`` plus ``then``, ``name``, fan-out (``a >> [b, c]``) and a cheap
    copy for upstream's copy of each node it runs."""


# The retry mixins replace upstream's attempt loops (Node._exec, AsyncNode._exec), so each
# sits right before the upstream class whose loop it replaces, and after the upstream batch
# classes: their item loops call ``super(<batch class>, self)._exec(item)``, which must
# reach the mixin. Hence the mixin listed again after each upstream class.
class Node(BaseNode, mixins.WhenMixin, mixins.CacheMixin, mixins.RetryMixin, _upstream.Node):
    """Upstream ``Node`` plus ``then``, ``name``, backoff/jitter/retry_on retries, ``when=``
    and the result cache (``cache=``)."""


class BatchNode(Node, mixins.ExecutorMixin, _upstream.BatchNode, mixins.RetryMixin):
    """Upstream ``BatchNode`` with the ``Node`` extras; each item retries on its own, and
    ``executor=`` runs the items' ``exec`` on threads, processes or a Dask cluster."""


class AsyncNode(
    mixins.AsyncBridgeMixin, mixins.AsyncRetryMixin, Node, _upstream.AsyncNode, mixins.RetryMixin
):
    """Upstream ``AsyncNode``; also runs inside a synchronous ``Flow``."""


class AsyncBatchNode(AsyncNode, BatchNode, _upstream.AsyncBatchNode, mixins.AsyncRetryMixin):
    """Upstream ``AsyncBatchNode`` with the ``AsyncNode`` extras."""


class AsyncParallelBatchNode(
    AsyncNode,
    BatchNode,
    _upstream.AsyncParallelBatchNode,
    mixins.ConcurrencyLimitMixin,
    mixins.AsyncRetryMixin,
):
    """Upstream ``AsyncParallelBatchNode`` with the ``AsyncNode`` extras and
    ``max_concurrency=`` (at most that many items in flight)."""


class Flow(
    mixins.StreamMixin,
    mixins.GraphExportMixin,
    mixins.ResumeMixin,
    mixins.BackgroundMixin,
    mixins.RecordingMixin,
    mixins.HooksMixin,
    BaseNode,
    _upstream.Flow,
):
    """Upstream ``Flow`` plus hooks, ``flow_name``, ``max_steps``, resume, background runs,
    ``stream()``/``astream()`` and ``to_mermaid()``/``to_dot()``."""


class BatchFlow(Flow, _upstream.BatchFlow):
    """Upstream ``BatchFlow`` with the ``Flow`` extras."""


class AsyncFlow(mixins.AsyncResumeMixin, Flow, AsyncNode, _upstream.AsyncFlow):
    """Upstream ``AsyncFlow`` with the ``Flow`` extras; ``flow.run(shared)`` also works."""


class AsyncBatchFlow(AsyncFlow, BatchFlow, _upstream.AsyncBatchFlow):
    """Upstream ``AsyncBatchFlow`` with the ``AsyncFlow`` extras."""


class AsyncParallelBatchFlow(
    mixins.PassLimitMixin, AsyncFlow, BatchFlow, _upstream.AsyncParallelBatchFlow
):
    """Upstream ``AsyncParallelBatchFlow`` with the ``AsyncFlow`` extras and
    ``max_concurrency=`` (at most that many batch passes in flight)."""


__all__ = [
    # drop-in classes
    "AsyncBatchFlow",
    "AsyncBatchNode",
    "AsyncFlow",
    "AsyncNode",
    "AsyncParallelBatchFlow",
    "AsyncParallelBatchNode",
    "BaseNode",
    "BatchFlow",
    "BatchNode",
    "Flow",
    "Node",
    # function nodes, conditions and the result cache
    "Action",
    "Cache",
    "node",
    "task",
    # parallel branches
    "Parallel",
    # the shared store
    "MISSING",
    "Store",
    "Unserialisable",
    # recorded runs and background runs
    "RunHandle",
    "WorkflowDB",
    "interrupt",
    # events, subscribers and zero-code instrumentation
    "EVENT_KINDS",
    "ConsoleTrace",
    "Event",
    "EventLog",
    "emit",
    "Instrumentation",
    "instrument",
    "is_instrumented",
    "subscribe",
    "uninstrument",
    # logging
    "get_logger",
    "setup_logging",
    # errors (every class of pocketflow_ext.errors)
    "CacheError",
    "CheckpointDamaged",
    "ConfigurationError",
    "ExecutorError",
    "HookError",
    "MaxStepsExceeded",
    "NodeInputError",
    "ParallelConflict",
    "PocketFlowExtError",
    "RecordingError",
    "ResumeError",
    "RunCancelled",
    "RunExistsError",
    "RunNotFound",
    "RunTimeout",
    "StoreBusy",
    "StoreTypeError",
    "StoreValidationError",
    "WaitingForAnswer",
]
