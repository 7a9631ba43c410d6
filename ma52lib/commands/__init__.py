"""The `ma52` command line's subcommands that live outside ``ma52lib.cli``.

Each module registers one subcommand with ``add_parser(subparsers)`` and turns its flags into a call of the
library (``ma52lib.synth``, ``ma52lib.emotion``) or of the book's build (``ma52lib.chapters.reproduce``);
``bench`` also holds the measurements it writes to bench.json. The library itself holds no argparse.
"""
