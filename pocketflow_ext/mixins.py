"""Every feature as a mixin, for adopting pocketflow-ext one feature at a time.

>>> import pocketflow
>>> from pocketflow_ext.mixins import RetryMixin
>>> class CallLLM(RetryMixin, pocketflow.Node):
...     max_retries, retry_delay, backoff = 3, 0.5, 2.0

Async nodes take ``AsyncRetryMixin``; on batch nodes the retry mixin follows the upstream
class, so upstream's loop over the items hands it each item:
``class Items(pocketflow.BatchNode, RetryMixin, pocketflow.Node)``.
"""

from .flows.background import BackgroundMixin
from .flows.hooks import HooksMixin
from .flows.recording import RecordingMixin
from .flows.resume import AsyncResumeMixin, ResumeMixin
from .flows.stream import StreamMixin
from .graph_export import GraphExportMixin
from .nodes.async_bridge import AsyncBridgeMixin
from .nodes.cached import CacheMixin
from .nodes.copying import CopyMixin
from .nodes.edges import EdgesMixin
from .nodes.executors import ExecutorMixin
from .nodes.limits import ConcurrencyLimitMixin, PassLimitMixin
from .nodes.named import NamedMixin
from .nodes.parallel import FanOutMixin
from .nodes.retry import AsyncRetryMixin, RetryMixin
from .nodes.when import WhenMixin

__all__ = [
    "AsyncBridgeMixin",
    "AsyncResumeMixin",
    "AsyncRetryMixin",
    "BackgroundMixin",
    "CacheMixin",
    "ConcurrencyLimitMixin",
    "CopyMixin",
    "EdgesMixin",
    "ExecutorMixin",
    "FanOutMixin",
    "GraphExportMixin",
    "HooksMixin",
    "NamedMixin",
    "PassLimitMixin",
    "RecordingMixin",
    "ResumeMixin",
    "RetryMixin",
    "StreamMixin",
    "WhenMixin",
]
