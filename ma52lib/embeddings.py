"""Label-embedding tables for the joint-embedding loss: one D-dimensional target per fine class.

Sources: the shipped table (sentence embeddings of the 52 class names, made by
``scripts/make_label_embeddings.py``), any ``.npy`` of shape [52, D] (the authors' 52 x 300 GloVe
table works unchanged), or ``"random"``: fixed-seed random unit vectors, the ablation's "another source".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ma52lib.labels import NUM_CLASSES

# The default table shipped with the package (made by scripts/make_label_embeddings.py).
DEFAULT_EMBEDDINGS = Path(__file__).with_name("label_embeddings.npy")
RANDOM_DIM = 300  # as the paper's word vectors
RANDOM_SEED = 0


def label_embeddings(source: str | Path | None = None) -> torch.Tensor:
    """The [52, D] float32 label table from ``source``: None/"default", "random", or a .npy path."""
    if source is None or source == "default":
        return _load_npy(DEFAULT_EMBEDDINGS)
    if source == "random":
        rng = np.random.default_rng(RANDOM_SEED)
        table = rng.standard_normal((NUM_CLASSES, RANDOM_DIM))
        table /= np.linalg.norm(table, axis=1, keepdims=True)
        return torch.from_numpy(table.astype(np.float32))
    return _load_npy(Path(source))


def _load_npy(path: Path) -> torch.Tensor:
    expected = f"a .npy array of shape [{NUM_CLASSES}, D] with finite numbers (one row per fine class id)"
    if not path.is_file():
        raise ValueError(f"label embeddings {path}: no such file; "
                         f"expected 'default', 'random' or the path of {expected}")
    with open(path, "rb") as fh:
        head = fh.read(6)
    if head != b"\x93NUMPY":
        # np.load would call any other file "pickled data", which misleads for text tables.
        raise ValueError(f"label embeddings {path}: cannot be read as .npy: it starts with {head!r}, not the "
                         f".npy header; expected {expected}. Convert a text table once, e.g. "
                         "np.save('table.npy', np.loadtxt('table.txt', dtype=np.float32))")
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - unreadable, pickled or not-.npy files all get one message
        raise ValueError(f"label embeddings {path}: cannot be read as .npy ({type(exc).__name__}: {exc}); "
                         f"expected {expected}") from exc
    if not isinstance(array, np.ndarray) or not (np.issubdtype(array.dtype, np.floating)
                                                 or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"label embeddings {path}: dtype {getattr(array, 'dtype', type(array).__name__)} "
                         f"is not numeric; expected {expected}")
    if array.ndim != 2 or array.shape[0] != NUM_CLASSES or array.shape[1] < 1:
        raise ValueError(f"label embeddings {path}: shape {array.shape}; expected {expected}")
    if not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(f"label embeddings {path}: NaN or inf at row {bad[0]}, column {bad[1]}; expected {expected}")
    return torch.from_numpy(array.astype(np.float32))
