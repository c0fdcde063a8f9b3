"""Studies shared through a real PostgreSQL server on the loopback interface: workers started
at the same moment on an empty database all open the study, and ``optuna-dashboard`` serves
the study page.

The server is a private cluster (:mod:`postgresql_server`); the tests skip, saying why, where
the PostgreSQL binaries or the psycopg driver are missing (``.ci/run`` installs both).
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest

from postgresql_server import PostgresServer, free_port, missing
from trainlab.workflow.search.study import open_study
from workflow_helpers import run_together

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


@pytest.fixture(scope="module")
def postgresql():
    """A PostgreSQL server of this module's own, stopped and deleted at its end."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    with PostgresServer() as server:
        yield server


def open_together(urls: list[str], barrier) -> None:
    """One of several workers: open each study at the same moment as the others."""
    for url in urls:
        barrier.wait(30)
        open_study({"study_name": "together", "direction": "maximize", "storage": url}, "unused")


def test_workers_started_together_on_an_empty_database_all_open_the_study(postgresql):
    urls = [postgresql.create_database(f"together{i}") for i in range(6)]
    assert run_together(open_together, (urls,), 3) == [0, 0, 0]
    assert all(len(optuna.get_all_study_summaries(url)) == 1 for url in urls)


def get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read().decode()


def test_optuna_dashboard_serves_the_study_page(tmp_path, postgresql):
    pytest.importorskip("optuna_dashboard", reason="optuna-dashboard is not installed: pip install -e '.[search]'")
    url = postgresql.create_database("dashboard")
    study = optuna.create_study(study_name="shown", storage=url, direction="maximize")
    study.optimize(lambda trial: trial.suggest_float("optimizer.lr", 1e-4, 1e-2, log=True), n_trials=3)
    port = free_port()
    with open(tmp_path / "dashboard.log", "w") as log:
        dashboard = start_dashboard(url, port, log)
    try:
        def studies():
            try:
                return json.loads(get(f"http://127.0.0.1:{port}/api/studies")[2])["study_summaries"]
            except OSError:
                assert dashboard.poll() is None, (tmp_path / "dashboard.log").read_text()
                time.sleep(0.2)
                return None

        begin = time.monotonic()
        while (listed := studies()) is None:
            assert time.monotonic() - begin < 60, "optuna-dashboard did not answer within 60 s"
        assert [s["study_name"] for s in listed] == ["shown"]
        study_id = listed[0]["study_id"]
        status, kind, page = get(f"http://127.0.0.1:{port}/dashboard/studies/{study_id}")
        assert status == 200 and kind.startswith("text/html") and "<script" in page
        detail = json.loads(get(f"http://127.0.0.1:{port}/api/studies/{study_id}")[2])
        assert detail["name"] == "shown" and [t["number"] for t in detail["trials"]] == [0, 1, 2]
    finally:
        dashboard.terminate()
        dashboard.wait(30)


def start_dashboard(url: str, port: int, log):
    """``optuna-dashboard <url> --host 127.0.0.1 --port <port>``, the command docs/workflow.md gives."""
    import subprocess

    script = Path(sys.executable).parent / "optuna-dashboard"
    return subprocess.Popen([str(script), url, "--host", "127.0.0.1", "--port", str(port)], stdout=log,
                            stderr=subprocess.STDOUT)
