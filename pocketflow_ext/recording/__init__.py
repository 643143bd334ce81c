"""Recording runs: the recorder subscriber, durability modes and JSON checkpoint files.
The run store it writes to (and ``WorkflowDB``) live in ``pocketflow_ext.runstore``."""
