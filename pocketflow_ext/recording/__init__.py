"""Recording runs: the SQLite schema and database, the recorder subscriber, durability modes
and JSON checkpoint files."""

from .db import WorkflowDB
from .schema import SCHEMA_VERSION, STATUSES

__all__ = ["SCHEMA_VERSION", "STATUSES", "WorkflowDB"]
