"""The ``pocketflow-ext`` command: run scripts recorded and traced, list and show runs, monitor."""
