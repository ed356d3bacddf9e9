"""MkDocs hook for the labs (executed jupytext notebooks under docs/labs/).

1. **The kernel sees a reader's environment.** Whatever the shell that started MkDocs holds,
   a lab runs with ``RL_COURSE_PROGRESS=0`` (a progress bar would be stored in the notebook
   as carriage-return residue), without ``MPLBACKEND`` (so figures show inline, as in
   Jupyter) and with tqdm's "IProgress not found" warning filtered (``PYTHONWARNINGS``). Kernels talk to MkDocs over IPC sockets instead of unencrypted TCP ports
   (``hooks/jupyter/jupyter_nbconvert_config.json``).
2. **The cache key covers every input of a lab's output.** mkdocs-jupyter keys its cache on
   the notebook's own text and its options; we fold into the cache folder's name a hash of
   ``snippets/``, ``results/``, the data under ``docs/assets/figures/``, ``uv.lock`` (library
   versions), this hook and the environment variables a lesson reads.
3. **``mkdocs build`` executes every lab; ``mkdocs serve`` answers at once.** A build first
   executes the labs missing from the cache in child processes, one per core (at most four),
   instead of one after another while pages render. Serving uses
   the labs already executed for the current key; the others are shown unexecuted, with a
   note at the top of the page saying so, while a background process executes them one at
   a time. Each finished lab triggers a rebuild and the open page reloads with its output.
4. **A notebook to download:** after the build we write ``<lab>.ipynb`` next to the
   ``<lab>.py`` source that mkdocs-jupyter copies.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.labs")

# Environment variables that change what a lab computes. (Labs never log to W&B or download
# from a hub, so WANDB_* and HF_* stay out: the suite's build then reuses a reader's cache.)
OUTPUT_ENV_VARS = (
    "RL_COURSE_DEVICE",
    "CUDA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "PYTORCH_ENABLE_MPS_FALLBACK",
)
KEEP_DIGESTS = 4  # cache folders kept for other states of the tree (a branch switch back)

# State that must outlive a config reload while `mkdocs serve` runs.
_STATE = sys.modules.setdefault("_rl_course_labs_state", types.ModuleType("_rl_course_labs_state"))
if not hasattr(_STATE, "lock"):
    _STATE.command = "build"
    _STATE.lock = threading.Condition()
    _STATE.jobs = []  # labs still to execute for the current key, in nav order
    _STATE.running = None  # the lab being executed now
    _STATE.failed = {}  # signal name -> error tail
    _STATE.pending = {}  # src_uri of a lab shown unexecuted -> its signal name
    _STATE.worker = None
    _STATE.stop = False
    _STATE.child = None
    _STATE.served = False  # set once the first build is done: labs wait for the first page


def _cache_root(root: Path) -> Path:
    return root / ".cache" / "mkdocs-jupyter"


def lab_inputs_digest(root: Path) -> str:
    """Hash everything besides a lab's own text that can change its executed output."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    files = {
        path.relative_to(root).as_posix(): path
        for path in [
            *(root / "snippets").rglob("*.py"),
            *(root / "results").rglob("*"),
            *(root / "docs" / "assets" / "figures").rglob("*"),
            root / "uv.lock",
        ]
    }
    files["hooks/labs.py"] = here / "labs.py"
    files["hooks/jupyter"] = here / "jupyter" / "jupyter_nbconvert_config.json"
    for name, path in sorted(files.items()):
        if path.is_file():
            digest.update(name.encode())
            digest.update(path.read_bytes())
    env = {k: v for k, v in os.environ.items() if k in OUTPUT_ENV_VARS}
    digest.update(json.dumps(sorted(env.items())).encode())
    return digest.hexdigest()[:16]


def on_startup(command, dirty):  # noqa: D103 - MkDocs hook signature
    _STATE.command = command


def on_config(config):  # noqa: D103 - MkDocs hook signature
    root = Path(config["config_file_path"]).parent
    # 1. What the kernels inherit (they are started from this process's environment).
    os.environ["RL_COURSE_PROGRESS"] = "0"
    os.environ.pop("MPLBACKEND", None)
    # transformers and datasets import tqdm.auto. In a Jupyter kernel without ipywidgets it
    # warns "IProgress not found" (with this machine's path to site-packages) and falls back to
    # the console bar, which is what we want: labs draw no bars. Keep that one warning out of
    # every lab's first cell; any other warning still shows, and tests/test_lab_outputs.py
    # fails on it.
    quiet = "ignore:IProgress not found"
    if quiet not in os.environ.get("PYTHONWARNINGS", ""):
        os.environ["PYTHONWARNINGS"] = ",".join(
            filter(None, [os.environ.get("PYTHONWARNINGS"), quiet])
        )
    jupyter_dir = str(Path(__file__).resolve().parent / "jupyter")
    paths = os.environ.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep)
    if jupyter_dir not in paths:
        os.environ["JUPYTER_CONFIG_PATH"] = os.pathsep.join([jupyter_dir, *filter(None, paths)])

    # 2. The cache folder named by everything a lab reads.
    plugin = config["plugins"]["mkdocs-jupyter"]
    digest = lab_inputs_digest(root)
    cache_dir = _cache_root(root) / digest
    plugin.config["cache_dir"] = str(cache_dir)
    _STATE.digest = digest

    # 3. Serving: labs not executed for this key are shown as they are and queued.
    if _STATE.command == "serve":
        _plan_serve(root, config, plugin, cache_dir, digest)
    # 4. Building: execute the labs missing from the cache side by side, one per core.
    elif _STATE.command == "build":
        _execute_missing(config, plugin, cache_dir)
    return config


def _options(plugin) -> dict:
    """The mkdocs-jupyter settings a lab's HTML depends on, as its child process needs them."""
    names = (
        "kernel_name",
        "theme",
        "allow_errors",
        "show_input",
        "no_input",
        "no_prompt",
        "remove_tag_config",
        "highlight_extra_classes",
        "include_requirejs",
        "custom_mathjax_url",
        "toc_depth",
    )
    return {key: plugin.config[key] for key in names}


def _execute_missing(config, plugin, cache_dir: Path) -> None:
    """Fill mkdocs-jupyter's cache for every lab not executed yet, in parallel child processes.

    mkdocs-jupyter executes labs one after another while it renders pages; a cold build spent
    most of its time there with one core idle. A lab whose child fails is left out of the cache,
    so mkdocs-jupyter executes it again itself and the build reports the error as before.
    """
    from concurrent.futures import ThreadPoolExecutor

    from mkdocs_jupyter.plugin import _compute_cache_key

    options = _options(plugin)
    jobs = []
    for lab in sorted((Path(config["docs_dir"]) / "labs").glob("*.py")):
        target = cache_dir / f"{_compute_cache_key(str(lab), plugin.config, True)}.json"
        if not target.exists():
            jobs.append({"lab": str(lab), "out": str(target), "options": options})

    def run(job: dict) -> None:
        started = time.monotonic()
        child = subprocess.run(
            [sys.executable, __file__, json.dumps(job)],
            capture_output=True,
            text=True,
            check=False,
        )
        name = Path(job["lab"]).stem
        if child.returncode == 0:
            log.info("labs: executed %s in %.0f s", name, time.monotonic() - started)
        else:
            log.info("labs: %s failed in a child process; the build executes it again", name)

    workers = min(len(jobs), os.cpu_count() or 1, 4)
    if workers:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run, jobs))


def _plan_serve(root: Path, config, plugin, cache_dir: Path, digest: str) -> None:
    from mkdocs_jupyter.plugin import _compute_cache_key

    executed = _cache_root(root) / "serve" / "executed" / digest
    jobs, pending, ignore = [], {}, []
    for lab in sorted((Path(config["docs_dir"]) / "labs").glob("*.py")):
        key = _compute_cache_key(str(lab), plugin.config, True)
        target = cache_dir / f"{key}.json"
        done = executed / f"{key}.json"
        if not target.exists() and done.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(done, target)  # executed in the background since the last build
        if target.exists():
            continue
        signal = f"{digest}-{key}"
        pending[f"labs/{lab.name}"] = signal
        ignore.append(str(lab))
        jobs.append({"lab": str(lab), "out": str(done), "signal": signal})
    # mkdocs-jupyter renders a lab matched by execute_ignore without running it.
    plugin.config["execute_ignore"] = ignore
    options = _options(plugin)
    with _STATE.lock:
        _STATE.pending = pending
        _STATE.jobs = [
            {**job, "options": options}
            for job in jobs
            if job["signal"] != _STATE.running and job["signal"] not in _STATE.failed
        ]
        _STATE.lock.notify_all()
    if _STATE.worker is None:  # first build of this `mkdocs serve`: start the executor
        _STATE.signals = _cache_root(root) / "serve" / "signals"
        _STATE.signals.mkdir(parents=True, exist_ok=True)
        for old in _STATE.signals.iterdir():
            old.unlink(missing_ok=True)
        for old in executed.parent.glob("*"):  # labs executed for older states of the code
            if old.name != digest:
                shutil.rmtree(old, ignore_errors=True)
        _STATE.worker = threading.Thread(target=_work, name="labs", daemon=True)
        _STATE.worker.start()
    if pending:
        total = len(list((Path(config["docs_dir"]) / "labs").glob("*.py")))
        log.info(
            "labs: %d of %d executed for this state of the code; executing the other %d in the "
            "background (their pages say so until then)",
            total - len(pending),
            total,
            len(pending),
        )


def on_serve(server, config, builder):  # noqa: D103 - MkDocs hook signature
    if _STATE.worker is not None:
        server.watch(str(_STATE.signals))  # a finished lab writes a file here: rebuild, reload
    return server


def on_shutdown():  # noqa: D103 - MkDocs hook signature
    with _STATE.lock:
        _STATE.stop = True
        _STATE.lock.notify_all()
        child = _STATE.child
    if child is not None and child.poll() is None:
        child.terminate()


def _work() -> None:
    """Execute queued labs one at a time, each in a child process, until MkDocs stops."""
    while True:
        with _STATE.lock:
            while not _STATE.stop and not (_STATE.served and _STATE.jobs):
                _STATE.lock.wait()
            if _STATE.stop:
                return
            job = _STATE.jobs.pop(0)
            _STATE.running = job["signal"]
        name = Path(job["lab"]).stem
        started = time.monotonic()
        child = subprocess.Popen(
            [sys.executable, __file__, json.dumps(job)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        with _STATE.lock:
            _STATE.child = child
        output, _ = child.communicate()
        with _STATE.lock:
            _STATE.child = None
            _STATE.running = None
            if _STATE.stop:
                return
            if child.returncode != 0:
                _STATE.failed[job["signal"]] = output[-3000:]
        if child.returncode == 0:
            log.info("labs: executed %s in %.0f s", name, time.monotonic() - started)
        else:
            log.error("labs: %s failed in the background:\n%s", name, output[-3000:])
        _STATE.signals.mkdir(parents=True, exist_ok=True)
        (_STATE.signals / job["signal"]).write_text(f"{child.returncode}\n")


def on_page_content(html, page, config, files):  # noqa: D103 - MkDocs hook signature
    signal = _STATE.pending.get(page.file.src_uri) if _STATE.command == "serve" else None
    if signal is None:
        return html
    if signal in _STATE.failed:
        tail = _STATE.failed[signal].strip().splitlines()[-12:]
        from html import escape

        note = (
            '<div class="admonition failure"><p class="admonition-title">This lab failed to '
            "execute, so it is shown without its output</p><p><code>mkdocs serve</code> ran it "
            "in the background and it stopped with an error; <code>uv run mkdocs build</code> "
            "shows the whole traceback. The end of its output:</p><pre><code>"
            + escape("\n".join(tail))
            + "</code></pre></div>"
        )
    else:
        note = (
            '<div class="admonition warning"><p class="admonition-title">Not executed yet: '
            "this lab is shown without its output</p><p><code>mkdocs serve</code> answers at "
            "once and executes the labs in the background, one at a time (all of them take about "
            "two minutes on two cores). When its turn is done the site rebuilds and this page "
            "reloads with the output. <code>uv run mkdocs build</code> executes every lab before it "
            "finishes, and the executed labs are kept in <code>.cache/</code>, so the next "
            "<code>mkdocs serve</code> shows them at once.</p></div>"
        )
    return note + html


def on_post_build(config):  # noqa: D103 - MkDocs hook signature
    import jupytext

    if _STATE.command == "serve" and not _STATE.served:
        with _STATE.lock:  # the first page is ready: start executing the queued labs
            _STATE.served = True
            _STATE.lock.notify_all()

    docs = Path(config["docs_dir"])
    site = Path(config["site_dir"])
    for lab in sorted((docs / "labs").glob("*.py")):
        target = site / "labs" / lab.stem / f"{lab.stem}.ipynb"
        if target.parent.is_dir():
            jupytext.write(jupytext.read(lab), target, fmt="ipynb")
    # Keep the cache folders of the few most recent states of the code, drop older ones.
    root = Path(config["config_file_path"]).parent
    folders = sorted(
        (p for p in _cache_root(root).glob("*") if p.is_dir() and len(p.name) == 16),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in folders[KEEP_DIGESTS:]:
        for item in old.glob("*.json"):
            item.unlink(missing_ok=True)
        try:
            old.rmdir()
        except OSError:
            pass


def _execute(job: dict) -> None:
    """Child process: execute one lab exactly as mkdocs-jupyter would, then cache the result."""
    from mkdocs_jupyter import convert
    from mkdocs_jupyter.plugin import _get_nb_toc_tokens

    options = dict(job["options"])
    toc_depth = options.pop("toc_depth")
    body = convert.nb2html(job["lab"], execute=True, **options)
    toc_tokens, title = _get_nb_toc_tokens(job["lab"], toc_depth)
    out = Path(job["out"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"content": body, "toc_tokens": toc_tokens, "title": title}))
    os.replace(tmp, out)


if __name__ == "__main__":
    _execute(json.loads(sys.argv[1]))
