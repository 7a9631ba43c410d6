"""The build behind `ma52 reproduce` (its flags: ``ma52lib.commands.reproduce``): make the data, execute every
chapter notebook with papermill (cached), build the book.

A notebook is re-executed only when its inputs change: the notebook file, its parameters, the source of
ma52lib, and the identity of the dataset. Executed notebooks are outputs (``book/generated/``), never
committed. A failing notebook does not stop the others: its executed copy (with papermill's error
banner at the failing cell) is published, it is not cached, and the command exits non-zero naming it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import nbformat

import ma52lib
from ma52lib.chapters.common import hide_injected_parameters, seeds_of
from ma52lib.chapters.frontpage import RECIPE_FILE, write_front_page
from ma52lib.chapters.plan import BOOK, RENDER, Plan, format_plan, make_plan
from ma52lib.chapters.watch import Watch
from ma52lib.config import make_config
from ma52lib.files import LockHeld, atomic_write_text, file_lock
from ma52lib.paths import BOOK_GENERATED, GENERATED_ENV, project_root
from ma52lib.synth import PROFILES as SYNTH_PROFILES
from ma52lib.synth import read_meta, synthesize
from ma52lib.synth.writer import default_folder, generator_fingerprint

# Chapter notebooks in execution order (the book's order is _toc.yml's: the ledger comes first there, but it
# reads what the other chapters made, so it runs last).
CHAPTERS: tuple[str, ...] = ("dataset", "benchmark", "ablations", "gradcam", "emotion", "performance",
                             "reproducibility", "study", "ledger")
# Chapters that take models of your own (`--extra-model`), and the files whose change re-executes a chapter
# (beside its notebook, parameters, the package and the data).
EXTRA_MODEL_CHAPTERS = ("benchmark", "ledger")
SEEDED_CHAPTERS = ("benchmark", "ablations", "ledger")  # chapters that train or read the core contrasts' seeds
INPUT_FILES: dict[str, tuple[str, ...]] = {"performance": ("bench.json",),
                                           "ledger": ("evidence/gradcam.json", "evidence/emotion.json")}
SUMMARY = "ledger_summary.md"  # the ledger's counts, quoted by the introduction


@dataclass
class ChapterResult:
    """What happened to one notebook in a reproduce run."""

    name: str
    status: str  # "cached" | "executed" | "failed" | "missing" | "interrupted"
    seconds: float = 0.0
    message: str = ""


@dataclass
class ReproduceReport:
    """The whole run: per-chapter outcomes and where the book is."""

    profile: str
    chapters: list[ChapterResult] = field(default_factory=list)
    index_html: Path | None = None
    book_ok: bool = False
    seconds: float = 0.0

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.chapters if c.status in ("failed", "missing", "interrupted")]


class ReproduceLocked(RuntimeError):
    """Another `ma52 reproduce` holds the lock on the same book folder."""


def book_folder() -> Path:
    """``book/generated/`` of the checkout, the folder _toc.yml lists and jupyter-book builds: executed notebooks,
    logs, cache records, bench.json."""
    return project_root() / BOOK_GENERATED


def package_hash() -> str:
    """Hash of ma52lib's source files: a code change re-executes the notebooks."""
    pkg = Path(ma52lib.__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(pkg.rglob("*")):
        if path.suffix in (".py", ".npy", ".json") and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(pkg)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def data_identity(root: Path) -> str:
    """Identity of a dataset folder: its lists' bytes and meta.json (sizes and mtimes of videos are not read)."""
    h = hashlib.sha256()
    for name in ("train_list_videos.txt", "val_list_videos.txt", "test_list_videos.txt", "test_labels.txt",
                 "meta.json", "emotion_labels.csv", "prepare.json"):
        path = root / name
        if path.exists():
            h.update(name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _key(nb_path: Path, params: dict[str, Any], pkg: str, data: str) -> str:
    h = hashlib.sha256()
    h.update(nb_path.read_bytes())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    h.update(pkg.encode())
    h.update(data.encode())
    return h.hexdigest()[:16]


@contextlib.contextmanager
def book_lock(folder: Path, *, wait: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (one reproduce at a time); refuse or wait when held."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(file_lock(folder / ".reproduce.lock", wait=wait))
        except LockHeld as exc:
            raise ReproduceLocked(
                f"another `ma52 reproduce` is running on {folder} ({exc.holder}); wait for it to finish, "
                "or pass --wait to queue behind it"
            ) from None
        yield


def _placeholder(path: Path, name: str, why: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {name.capitalize()}\n\n**This chapter was not produced:** {why}")]
    atomic_write_text(path, nbformat.writes(nb))  # a page is whole or absent, even under Ctrl-C


def chapter_key(name: str, params: dict[str, Any], *, source_dir: Path, out_dir: Path, pkg: str,
                data: str) -> str | None:
    """The cache key of a chapter's execution (None: its notebook does not exist)."""
    src = source_dir / f"{name}.ipynb"
    if not src.exists():
        return None
    # e.g. the performance chapter shows `ma52 bench` results: a new bench.json re-executes it
    inputs = "".join(hashlib.sha256((out_dir / f).read_bytes()).hexdigest() for f in INPUT_FILES.get(name, ())
                     if (out_dir / f).exists())
    return _key(src, params, pkg, data + inputs)


def is_cached(name: str, key: str | None, out_dir: Path) -> bool:
    """Whether the executed copy of chapter ``name`` in ``out_dir`` was made with ``key``."""
    record = out_dir / ".cache" / f"{name}.json"
    if key is None or not (out_dir / f"{name}.ipynb").exists() or not record.exists():
        return False
    try:
        return json.loads(record.read_text()).get("key") == key
    except json.JSONDecodeError:
        return False


def execute_chapter(name: str, params: dict[str, Any], *, source_dir: Path, out_dir: Path, pkg: str, data: str,
                    force: bool, timeout: int | None, watch: Watch | None = None) -> ChapterResult:
    """Execute one chapter notebook with papermill unless its cached output is current; ``watch`` says how the
    trainings inside it go."""
    import papermill as pm  # only here: it pulls in the Jupyter client stack, which no other command needs

    out = out_dir / f"{name}.ipynb"
    record = out_dir / ".cache" / f"{name}.json"
    log_path = out_dir / "logs" / f"{name}.log"
    key = chapter_key(name, params, source_dir=source_dir, out_dir=out_dir, pkg=pkg, data=data)
    if key is None:
        _placeholder(out, name, f"the notebook notebooks/{name}.ipynb does not exist in this version.")
        return ChapterResult(name, "missing", message=f"notebooks/{name}.ipynb not found")
    if not force and is_cached(name, key, out_dir):
        return ChapterResult(name, "cached")
    src = source_dir / f"{name}.ipynb"
    record.unlink(missing_ok=True)  # never trust an old record once we start
    record.parent.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{name}.running.ipynb"
    log_path.write_text("")  # this execution's log; the handler and the kernel's stderr append to it
    t0 = time.perf_counter()
    try:
        # The kernel's own warnings belong in the chapter's log, not the terminal; its trainings' progress
        # comes back through the file the watch tails.
        with _kernel_env(log_path, out_dir), _stderr_into(log_path), \
                _watching(watch, name, out_dir / "logs" / f"{name}.progress.jsonl"):
            pm.execute_notebook(
                str(src), str(tmp), parameters=params, cwd=str(out_dir), log_output=True,
                progress_bar=False, execution_timeout=timeout, kernel_name="python3", language="python",
            )
    except KeyboardInterrupt:
        tmp.unlink(missing_ok=True)  # the partial copy is dropped: the last complete one (if any) stays
        # nbclient interrupts the kernel on its way out; the cell's error then lands in a task nobody awaits,
        # which asyncio would print as a traceback at exit: the one line below says all there is to say.
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        raise KeyboardInterrupt(
            f"interrupted while executing notebooks/{name}.ipynb: it is executed again next time (finished runs "
            "reused, an interrupted training resumed from its last checkpoint); finished chapters stay cached"
        ) from None
    except Exception as exc:  # papermill's PapermillExecutionError, timeouts, dead kernels
        seconds = time.perf_counter() - t0
        if tmp.exists():
            hide_injected_parameters(tmp)
            os.replace(tmp, out)  # the executed copy shows which cell failed and why
        else:
            _placeholder(out, name, f"execution failed before any cell ran: {exc}")
        return ChapterResult(name, "failed", seconds, _failure_message(exc, name, out, timeout))
    seconds = time.perf_counter() - t0
    hide_injected_parameters(tmp)  # the book folds it, like the parameters cell
    os.replace(tmp, out)
    atomic_write_text(record, json.dumps({"key": key, "seconds": seconds, "finished": time.time()}) + "\n")
    return ChapterResult(name, "executed", seconds)


@contextlib.contextmanager
def _kernel_env(log_path: Path, out_dir: Path) -> Iterator[None]:
    """For the block: papermill's log appended to ``log_path``, and the environment a chapter's kernel inherits."""
    handler = logging.FileHandler(log_path, mode="a")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    pm_logger = logging.getLogger("papermill")
    pm_logger.addHandler(handler)
    pm_logger.setLevel(logging.INFO)
    saved = {var: os.environ.get(var) for var in ("MA52_QUIET", "PYTHONPATH", GENERATED_ENV)}
    env_path = saved["PYTHONPATH"]
    os.environ["MA52_QUIET"] = "1"  # no tqdm bars inside executed notebooks
    os.environ[GENERATED_ENV] = str(out_dir)  # where chapters leave evidence for the ledger
    # The kernel imports this checkout's ma52lib even when it is not pip-installed.
    os.environ["PYTHONPATH"] = os.pathsep.join([str(project_root())] + ([env_path] if env_path else []))
    try:
        yield
    finally:
        pm_logger.removeHandler(handler)
        handler.close()
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def _watching(watch: Watch | None, name: str, progress_file: Path) -> contextlib.AbstractContextManager:
    return watch.chapter(name, progress_file) if watch else contextlib.nullcontext()


@contextlib.contextmanager
def _stderr_into(path: Path) -> Iterator[None]:
    """Send file descriptor 2 (this process's and the kernels' it starts) to ``path``, appending, for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "a") as fh:
        os.dup2(fh.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _failure_message(exc: Exception, name: str, out: Path, timeout: int | None) -> str:
    """One line: which cell of which notebook failed, why, and where the executed copy is."""
    where = f"the executed copy {out} shows the traceback; log in {out.parent / 'logs' / (name + '.log')}"
    if getattr(exc, "ename", None):  # papermill's PapermillExecutionError
        cell = getattr(exc, "exec_count", "?")  # as the executed copy numbers it, injected cell included
        return f"notebooks/{name}.ipynb, cell [{cell}] raised {exc.ename}: {exc.evalue} ({where})"
    if isinstance(exc, TimeoutError):  # nbclient's CellTimeoutError
        # nbclient quotes the cell between dashed lines; its first line names it well enough.
        parts = str(exc).split("-------------------")
        preview = parts[1].strip().splitlines()[0] if len(parts) > 2 and parts[1].strip() else "?"
        return (f"notebooks/{name}.ipynb: cell {preview!r} ran longer than the --timeout of {timeout} s and was "
                f"stopped; raise --timeout or make the cell faster ({where})")
    if type(exc).__name__ == "DeadKernelError":
        return f"the kernel running notebooks/{name}.ipynb died (out of memory, or killed) ({where})"
    lines = str(exc).strip().splitlines()
    return f"notebooks/{name}.ipynb: {lines[-1] if lines else type(exc).__name__} ({where})"


def build_book(root: Path, *, strict: bool = True) -> tuple[bool, Path, str]:
    """Run `jupyter-book build` (execution off) on the repo's book; returns (ok, index.html, log tail)."""
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(root), "--path-output", str(root)]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
    log = proc.stdout + proc.stderr
    (root / BOOK_GENERATED / "logs").mkdir(parents=True, exist_ok=True)
    (root / BOOK_GENERATED / "logs" / "jupyter-book.log").write_text(log)
    return proc.returncode == 0, root / "_build" / "html" / "index.html", log[-3000:]


def reproduce(profile: str = "cpu", *, data_root: str | None = None, only: list[str] | None = None,
              force: bool = False, timeout: int | None = None, seed: int = 0, build: bool = True,
              wait: bool = False, extra_models: list[str] | None = None, study: bool = False,
              n_seeds: int | None = None, echo=print) -> ReproduceReport:
    """Regenerate the book: data, chapters (cached), jupyter-book build. ``extra_models`` (``pkg.mod:factory``)
    join the benchmark and get ledger rows; ``study`` trains the recipe study's runs (the appendix); ``n_seeds``
    sets how many seeds the core contrasts are trained with (None: the profile's)."""
    _check_args(profile, data_root, only, n_seeds)
    root = project_root()
    source_dir, out_dir = root / "notebooks", book_folder()
    report = ReproduceReport(profile)
    t_all = time.perf_counter()
    with book_lock(out_dir, wait=wait):
        book = _Book.of(profile, data_root, seed, only, extra_models, study, n_seeds, force=force)
        plan = _plan_or_none(book, build=build, echo=echo)
        watch = Watch(plan, echo=echo, tty=echo is print and sys.stdout.isatty())
        if not data_root:
            echo(f"[1/3] MA-52-Synth for profile {profile}")
            with watch.chapter(RENDER, out_dir / "logs" / "render.progress.jsonl"):
                book.data = synthesize(profile=make_config(profile).data.synth_profile, seed=seed)
        pkg, ident = package_hash(), data_identity(book.data)
        write_front_page(out_dir, profile, book.data)
        echo(f"[2/3] executing {len(book.params)} notebook(s) into {out_dir}")
        for name, own in book.params.items():
            result = execute_chapter(name, own, source_dir=source_dir, out_dir=out_dir, pkg=pkg, data=ident,
                                     force=force, timeout=timeout, watch=watch)
            report.chapters.append(result)
            detail = f" ({result.seconds:.0f} s)" if result.seconds else ""
            echo(f"  {name}: {result.status}{detail}{' - ' + result.message if result.message else ''}")
        _fill_missing_pages(out_dir)
        _write_timings(out_dir, report)
        if build:
            echo("[3/3] jupyter-book build")
            with watch.chapter(BOOK, out_dir / "logs" / "book.progress.jsonl"):
                report.book_ok, report.index_html, tail = build_book(root)
            if not report.book_ok:
                echo(tail)
    report.seconds = time.perf_counter() - t_all
    _write_timings(out_dir, report)
    return report


def _check_args(profile: str, data_root: str | None, only: list[str] | None, n_seeds: int | None) -> None:
    """Refuse bad arguments before anything is rendered or trained."""
    unknown = set(only or []) - set(CHAPTERS)
    if unknown:
        raise ValueError(f"unknown chapter(s) {sorted(unknown)}; chapters: {', '.join(CHAPTERS)}")
    if n_seeds is not None and n_seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {n_seeds}")
    if profile == "paper" and not data_root:
        raise ValueError("the paper profile is the official recipe on the real MA-52: pass --data-root (the "
                         "download, see README 'The real MA-52'); the book on MA-52-Synth is --profile cpu")
    elsewhere = os.environ.get(GENERATED_ENV)
    if elsewhere and Path(elsewhere).resolve() != book_folder().resolve():
        # The book is built from the folder _toc.yml lists: chapters written anywhere else would not be in it.
        raise ValueError(f"{GENERATED_ENV} is set to {elsewhere}, but the book is built from {book_folder()}: "
                         f"unset it (`unset {GENERATED_ENV}`) and run again")


@dataclass
class _Book:
    """What a build works on: its data folder (and whether it must be rendered), each chapter's parameters."""

    profile: str
    data: Path
    render: bool
    params: dict[str, dict[str, Any]]  # chapter -> notebook parameters, in execution order
    force: bool

    @classmethod
    def of(cls, profile: str, data_root: str | None, seed: int, only: list[str] | None,
           extra_models: list[str] | None, study: bool, n_seeds: int | None, *, force: bool = False) -> _Book:
        if data_root:
            data = Path(data_root).expanduser().resolve()
            if not (data / "train_list_videos.txt").exists():
                raise FileNotFoundError(f"{data} has no train_list_videos.txt: not an MA-52 folder")
            render = False
        else:
            synth = make_config(profile).data.synth_profile
            prof = SYNTH_PROFILES[synth]
            data = default_folder(synth, seed, prof.size, prof.fps, "stratified", prof.participants)
            meta = read_meta(data) if data.exists() else None
            render = not (meta and meta.get("complete") and meta.get("fingerprint") == generator_fingerprint())
        # The profile's own MA-52-Synth goes to the notebooks as data_root=None, as `ma52 train
        # --profile P` leaves it: the book's runs then have the same config hash as the CLI's and are
        # reused by it (and vice versa). The data's identity is still part of each chapter's cache key.
        own_synth = not data_root and seed == make_config(profile).data.synth_seed
        common = {"profile": profile, "data_root": None if own_synth else str(data), "seed": seed}
        params = {n: _chapter_params(n, common, extra_models, study, n_seeds) for n in CHAPTERS
                  if not only or n in only}
        return cls(profile, data, render, params, force)

    def cached(self) -> list[str]:
        """Chapters whose executed copy is current (as `execute_chapter` will find them)."""
        if self.force or self.render:
            return []
        source_dir, out_dir = project_root() / "notebooks", book_folder()
        pkg, ident = package_hash(), data_identity(self.data)
        keys = {n: chapter_key(n, p, source_dir=source_dir, out_dir=out_dir, pkg=pkg, data=ident)
                for n, p in self.params.items()}
        return [n for n, key in keys.items() if is_cached(n, key, out_dir)]


def plan_book(profile: str = "cpu", *, data_root: str | None = None, only: list[str] | None = None,
              force: bool = False, seed: int = 0, build: bool = True, extra_models: list[str] | None = None,
              study: bool = False, n_seeds: int | None = None, echo=print) -> Plan:
    """What `reproduce` with these arguments would render, pretrain, train and reuse, and in how long; nothing
    is rendered or trained (a few training steps of each model to train are timed)."""
    _check_args(profile, data_root, only, n_seeds)
    book = _Book.of(profile, data_root, seed, only, extra_models, study, n_seeds, force=force)
    return make_plan(profile, book.data, book.params, book.cached(), render=book.render, build=build, echo=echo)


def _plan_or_none(book: _Book, *, build: bool, echo) -> Plan | None:
    """The build's plan, printed; a plan that cannot be made costs the ETAs only, never the build."""
    try:
        plan = make_plan(book.profile, book.data, book.params, book.cached(), render=book.render, build=build)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # the estimate is a convenience: the build goes on without ETAs
        echo(f"no plan or ETAs for this build ({type(exc).__name__}: {exc})")
        return None
    for line in format_plan(plan):
        echo(line)
    return plan


def _chapter_params(name: str, common: dict[str, Any], extra_models: list[str] | None, study: bool,
                    n_seeds: int | None = None) -> dict[str, Any]:
    """The common parameters plus what one chapter takes: models of your own, the study's training switch, the
    number of seeds (only when it differs from the profile's: the same book has the same cache key)."""
    own = dict(common)
    if name in SEEDED_CHAPTERS and n_seeds is not None and n_seeds != len(seeds_of(common["profile"])):
        own["n_seeds"] = int(n_seeds)
    if name in EXTRA_MODEL_CHAPTERS:
        own["extra_models"] = list(extra_models or [])
    if name == "study" and study:
        own["train"] = True  # otherwise the notebook's default: train only for the smoke profile
    return own


def _fill_missing_pages(out_dir: Path) -> None:
    """The toc lists every chapter and the introduction includes the ledger's summary: give each a page."""
    for name in CHAPTERS:
        if not (out_dir / f"{name}.ipynb").exists():
            _placeholder(out_dir / f"{name}.ipynb", name, "not executed yet (run `ma52 reproduce`).")
    if not (out_dir / RECIPE_FILE).exists():
        write_front_page(out_dir, "cpu", None)
    if not (out_dir / SUMMARY).exists():
        atomic_write_text(out_dir / SUMMARY, "The findings ledger has not been computed in this build yet.\n")


def _write_timings(out_dir: Path, report: ReproduceReport) -> None:
    """Keep the wall time of each reproduce run for the reproducibility chapter."""
    path = out_dir / "reproduce_runs.jsonl"
    if report.seconds:
        row = {"profile": report.profile, "seconds": report.seconds, "time": time.strftime("%Y-%m-%d %H:%M:%S"),
               "chapters": {c.name: [c.status, c.seconds] for c in report.chapters}}
        with open(path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
