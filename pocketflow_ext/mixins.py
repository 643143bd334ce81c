"""Every feature as a mixin, for adopting pocketflow-ext one feature at a time.

>>> import pocketflow
>>> from pocketflow_ext.mixins import RetryMixin
>>> class CallLLM(RetryMixin, pocketflow.Node):
...     max_retries, retry_delay, backoff = 3, 0.5, 2.0
"""

from .flows.background import BackgroundMixin
from .flows.hooks import HooksMixin
from .flows.recording import RecordingMixin
from .flows.resume import AsyncResumeMixin, ResumeMixin
from .nodes.async_bridge import AsyncBridgeMixin
from .nodes.edges import EdgesMixin
from .nodes.named import NamedMixin
from .nodes.retry import RetryMixin

__all__ = [
    "AsyncBridgeMixin",
    "AsyncResumeMixin",
    "BackgroundMixin",
    "EdgesMixin",
    "HooksMixin",
    "NamedMixin",
    "RecordingMixin",
    "ResumeMixin",
    "RetryMixin",
]
