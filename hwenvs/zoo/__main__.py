"""``python -m hwenvs.zoo ALGO``: print the path of ALGO's RL Zoo hyperparameter file (for ``--conf-file``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from hwenvs.zoo import ALGOS, hyperparams_file


def main(argv: Sequence[str] | None = None) -> int:
    """Print the file's path; exit code 0.

    :param argv: the command line after the module name (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(prog="python -m hwenvs.zoo", description=__doc__)
    parser.add_argument("algo", choices=ALGOS, type=str.lower, help="the Zoo's algorithm name")
    print(hyperparams_file(parser.parse_args(argv).algo))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
