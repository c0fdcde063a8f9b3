"""A private MLflow tracking server for the tests: SQLite backend and artifact folder in a temporary
folder, on a free loopback port, stopped (its whole process group) and deleted afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.workflow.postgresql_server import free_port


class MLflowServer:
    """``mlflow server`` with ``sqlite:///<folder>/mlflow.db`` and artifacts in ``<folder>/artifacts``.

    Use as a context manager: entering starts it and waits (up to ``timeout`` s) until ``/health``
    answers; leaving kills its process group (SIGKILL) and deletes the folder.

    Attributes:
        uri: ``http://127.0.0.1:<port>``.
        folder: The temporary folder (``server.log`` holds the server's output).
    """

    def __init__(self, timeout: float = 180) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="trainlab-mlflow-"))
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.timeout = timeout
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> MLflowServer:
        mlflow = Path(sys.executable).with_name("mlflow")
        command = [str(mlflow) if mlflow.is_file() else "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
                   "--workers", "1", "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
                   "--artifacts-destination", str(self.folder / "artifacts")]
        with open(self.folder / "server.log", "w") as log:
            self.process = subprocess.Popen(command, cwd=self.folder, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        begin = time.monotonic()
        while time.monotonic() - begin < self.timeout:
            if self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        log_text = (self.folder / "server.log").read_text()[-3000:]
        self.__exit__(None, None, None)
        raise RuntimeError(f"mlflow server did not answer on {self.uri} within {self.timeout} s:\n{log_text}")

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            try:  # SIGKILL: a test server's SQLite file is thrown away anyway, and SIGTERM takes seconds
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
