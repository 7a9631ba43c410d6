"""`ma52` for the Ctrl-C cases: the real command line, with each training step and evaluation slowed and announced.

Usage: ``python ctrlc_child.py ARGS...`` runs ``ma52 ARGS...`` (``ma52lib.cli.main``) after installing the
CLI's Ctrl-C handling, as the console script does. With ``CTRLC_AT=step`` each training step prints ``step``,
with ``CTRLC_AT=eval`` each evaluation prints ``evaluating`` (flushed); that one then lasts a few seconds, so
a test can send SIGINT on that line, inside the work, instead of after a guessed sleep.
Nothing here is library code: only tests use it.
"""

from __future__ import annotations

import os
import sys
import time

from ma52lib import interrupt

interrupt.install()  # what ma52lib/__init__.py does for the `ma52` command

import ma52lib.engine.train as train_module  # noqa: E402
from ma52lib.cli import main  # noqa: E402

_step, _predict = train_module.train_step, train_module.predict_loader


def _slow_step(*args, **kwargs):
    print("step", flush=True)
    time.sleep(5)
    return _step(*args, **kwargs)


def _slow_predict(*args, **kwargs):
    print("evaluating", flush=True)
    time.sleep(5)
    return _predict(*args, **kwargs)


if os.environ.get("CTRLC_AT") == "step":
    train_module.train_step = _slow_step
if os.environ.get("CTRLC_AT") == "eval":
    train_module.predict_loader = _slow_predict

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
