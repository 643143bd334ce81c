"""``python -m pocketflow_ext ...`` is the ``pocketflow-ext`` command."""

import sys

from .cli.main import main

if __name__ == "__main__":
    sys.exit(main())
