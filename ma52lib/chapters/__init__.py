"""The book's machinery: what builds the chapters, apart from the library a researcher imports.

One module per chapter notebook, named like it (``chapters.benchmark`` serves
``notebooks/benchmark.ipynb``): ``dataset``, ``benchmark``, ``ablations``, ``gradcam``, ``emotion``,
``performance``, ``reproducibility``; ``common`` holds what several of them share (the experiments'
base config, training a set of configs, run names and metric columns). Beside them: ``reproduce`` (the
runner behind `ma52 reproduce`: papermill, cache, jupyter-book), ``frontpage`` (the introduction's generated
parts: the recipe table, the two commands, the benchmark chart) and ``faults`` (the fault suite behind the
reproducibility chapter's table).

The dependency points one way: chapters import the library; nothing in the library imports chapters
but the command line (``ma52lib.cli`` and ``ma52lib.commands``: `ma52 reproduce`, `ma52 bench`).
"""
