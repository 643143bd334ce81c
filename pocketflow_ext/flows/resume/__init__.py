"""Everything about resuming: starting mid-graph (``plan``), where a recorded run continues
(``point``), the flow methods (``mixin``) and ``pocketflow-ext run --resume`` (``pending``)."""

from .mixin import AsyncResumeMixin, ResumeMixin
from .pending import PendingResume, claimed_by, resume_next_run
from .plan import planned_start, starting_at

__all__ = [
    "AsyncResumeMixin",
    "PendingResume",
    "ResumeMixin",
    "claimed_by",
    "planned_start",
    "resume_next_run",
    "starting_at",
]
