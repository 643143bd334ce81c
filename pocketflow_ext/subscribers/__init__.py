"""Ready-made event subscribers: the console trace and the structured event log.

Each lives in its own module and knows nothing of the others; attach one with
``flow.subscribe(...)`` or process-wide with ``pocketflow_ext.subscribe(...)``.
"""

from .log import EventLog
from .trace import ConsoleTrace, trace_mode

__all__ = ["ConsoleTrace", "EventLog", "trace_mode"]
