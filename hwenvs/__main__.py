"""``python -m hwenvs``: the ``hwenvs`` command, run by this interpreter (where its console script is not on PATH)."""

import sys

from hwenvs.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
