"""The ``hwenvs`` command line: one module per sub-command, each exposing ``add_parser(subparsers)``."""
