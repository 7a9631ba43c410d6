"""ma52lib: the reproducible companion to "Benchmarking Micro-action Recognition" (MA-52, MANet).

The top level is the library: ``labels``, ``config``, ``metrics``, ``losses``, ``embeddings``, ``data``
(the official format and MA-52-Synth), ``models`` (MANet and the baselines), ``engine`` (training,
evaluation, checkpoints), ``explain`` (Grad-CAM), ``emotion``, ``cli``, with ``files`` (atomic writes,
locks) and ``paths`` at the bottom. ``ma52lib.chapters`` is the book's machinery on top of it: one module
per chapter notebook, the `ma52 reproduce` runner, the bench and the fault suite.
"""

from ma52lib import interrupt as _interrupt

__version__ = "0.1.0"

if _interrupt.is_cli():  # before the command imports torch: Ctrl-C during those seconds ends in one line
    _interrupt.install()
