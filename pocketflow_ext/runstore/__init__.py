"""Run stores: the interface every recorder and reader uses, and its SQLite implementation."""

from .base import CheckpointRow, EventRow, RunFilter, RunRow, RunsPage, RunStore, RunUpdate
from .open import open_store, store_key
from .workflow_db import WorkflowDB

__all__ = [
    "CheckpointRow",
    "EventRow",
    "RunFilter",
    "RunRow",
    "RunStore",
    "RunUpdate",
    "RunsPage",
    "WorkflowDB",
    "open_store",
    "store_key",
]
