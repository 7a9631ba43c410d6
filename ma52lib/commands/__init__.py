"""The `ma52` command line's subcommands that live outside ``ma52lib.cli``: argparse glue only.

Each module registers one subcommand with ``add_parser(subparsers)`` and turns its flags into a call of the
library (``ma52lib.synth``, ``ma52lib.emotion``); the library itself holds no argparse.
"""
