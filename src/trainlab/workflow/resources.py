"""Share one machine between the parallel jobs of a sweep: CPU threads and GPUs.

- CPU: each of ``n_jobs`` concurrent jobs gets ``usable cores // n_jobs`` torch threads
  (at least one), so that the jobs do not oversubscribe the cores.
- GPUs: a job holds one GPU for its whole run through an exclusive lock file per GPU
  (``fcntl.flock``, released by the kernel when the process ends, even on a crash). A job
  takes the first free GPU and waits while all are taken, so at most one job uses a GPU at a
  time, whichever worker process runs it and whatever the job's number. Lock files live in
  ``$TRAINLAB_GPU_LOCK_DIR`` (default: ``<temp dir>/trainlab-gpu-locks``), so separate sweeps
  on one machine share the GPUs too.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads_per_job(n_jobs: int, cores: int | None = None) -> int:
    """Torch threads for one of ``n_jobs`` concurrent jobs: ``cores // n_jobs``, at least 1.

    Args:
        n_jobs: Concurrent jobs; ``-1`` or less (joblib's "one per core") count as ``cores``.
        cores: Cores to share; default :func:`usable_cores`.
    """
    cores = cores or usable_cores()
    jobs = cores if n_jobs is None or n_jobs < 1 else n_jobs
    return max(1, cores // jobs)


def gpu_lock_dir() -> Path:
    """Folder of the per-GPU lock files (``$TRAINLAB_GPU_LOCK_DIR`` or ``<temp>/trainlab-gpu-locks``)."""
    return Path(os.environ.get("TRAINLAB_GPU_LOCK_DIR") or Path(tempfile.gettempdir()) / "trainlab-gpu-locks")


class GpuSlot:
    """Exclusive hold of one of ``count`` GPUs for the life of a job (a context manager).

    Args:
        count: GPUs on the machine (``torch.cuda.device_count()``).
        lock_dir: Folder of the lock files ``gpu<index>.lock``; default :func:`gpu_lock_dir`.
        poll_seconds: Wait between two tries while every GPU is held.
        timeout: Give up after this many seconds of waiting (``None``: wait for ever).

    Attributes:
        index: The GPU held (``0 .. count-1``), set on entering.

    Raises:
        ValueError: ``count`` < 1.
        TimeoutError: no GPU came free within ``timeout`` seconds.

    Algorithm: non-blocking ``flock(LOCK_EX | LOCK_NB)`` on each lock file in turn
    (POSIX advisory locks, see ``man 2 flock``); the first success wins.
    """

    def __init__(self, count: int, lock_dir: str | os.PathLike | None = None, poll_seconds: float = 2.0,
                 timeout: float | None = None):
        if count < 1:
            raise ValueError(f"GpuSlot needs at least one GPU, got count={count}")
        self.count = count
        self.lock_dir = Path(lock_dir) if lock_dir else gpu_lock_dir()
        self.poll_seconds = poll_seconds
        self.timeout = timeout
        self.index: int | None = None
        self._handle = None

    def __enter__(self) -> GpuSlot:
        import fcntl

        self.lock_dir.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        while True:
            for index in range(self.count):
                handle = open(self.lock_dir / f"gpu{index}.lock", "a+")
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.close()
                    continue
                handle.seek(0)
                handle.truncate()
                handle.write(f"{os.getpid()}\n")
                handle.flush()
                self.index, self._handle = index, handle
                return self
            if self.timeout is not None and time.monotonic() - start > self.timeout:
                raise TimeoutError(f"no free GPU among {self.count} within {self.timeout} s (locks in {self.lock_dir})")
            time.sleep(self.poll_seconds)

    def __exit__(self, *exc_info: object) -> None:
        if self._handle is not None:
            import fcntl

            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
