"""Helpers for the workflow tests that train for real: a tiny run recipe and the command line."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# One epoch on 2 embedded receipts at 192 px crops, 2 validation receipts, no test split: seconds per run.
TINY = [
    "data.limit_train=2",
    "data.batch_size=2",
    "data.val_split=0.1",
    "data.image_size=192",
    "data.resize.size=256",
    "data.resize.max_side=512",
    "model.neck.inner_channels=32",
    "model.tune_postprocess.enabled=false",
    "trainer.max_epochs=1",
    "trainer.max_time=null",
    "trainer.enable_model_summary=false",
    "callbacks.rich_progress_bar=null",
    "logger.tensorboard=null",
    "test=false",
]


def command(*args: str) -> list[str]:
    """The ``trainlab`` command line, as a user runs it."""
    return [sys.executable, "-m", "trainlab", *args]


def trainlab(*args: str, cwd: Path, expect: int = 0) -> subprocess.CompletedProcess:
    """Run ``trainlab`` to the end and check its exit status."""
    done = subprocess.run(command(*args), cwd=cwd, capture_output=True, text=True, timeout=900)
    assert done.returncode == expect, (f"trainlab {' '.join(args)} exited {done.returncode}:\n"
                                       f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    return done


def start(*args: str, cwd: Path) -> subprocess.Popen:
    """Start ``trainlab`` in the background, in a process group of its own (with the parallel
    launcher's worker processes); its output goes to ``<cwd>/background.log``."""
    with open(cwd / "background.log", "w") as log:
        process = subprocess.Popen(command(*args), cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    process.log_path = cwd / "background.log"
    return process


def _kill_group(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGKILL the whole process group and wait until none of its processes is left."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
    begin = time.monotonic()
    while time.monotonic() - begin < timeout:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def kill_when(process: subprocess.Popen, ready, timeout: float = 600) -> None:
    """SIGKILL the process group of ``process`` (started by :func:`start`) as soon as ``ready()``
    is true, as a crash or a preemption would."""
    begin = time.monotonic()
    while not ready():
        if process.poll() is not None or time.monotonic() - begin > timeout:
            _kill_group(process)
            tail = process.log_path.read_text()[-4000:]
            raise AssertionError(f"the process ended (exit {process.returncode}) or timed out before the moment "
                                 f"to kill it:\n{tail}")
        time.sleep(0.1)
    _kill_group(process)


def read_manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


def run_together(target, args: tuple, n: int, timeout: float = 120) -> list[int | None]:
    """Run ``target(*args, barrier)`` in ``n`` new (spawned) processes at once; ``barrier`` is a
    ``multiprocessing.Barrier(n)`` for them to start a step together (``barrier.wait(30)``).

    Returns the exit codes (``None`` for a process still running after ``timeout`` s, then killed).
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(n)
    processes = [context.Process(target=target, args=(*args, barrier)) for _ in range(n)]
    for process in processes:
        process.start()
    begin = time.monotonic()
    for process in processes:
        process.join(max(0.0, timeout - (time.monotonic() - begin)))
    codes = [process.exitcode for process in processes]
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()
    return codes
