"""A search shared by several workers through a real PostgreSQL server on the loopback interface.

``trainlab tune ... search.storage=postgresql://... search.n_workers=2`` runs two real
``trainlab tune`` processes on one study; one of them is killed with SIGKILL in the middle of
a trial, and its trial must be failed by Optuna's heartbeat check and retried by the other
worker from the dead trial's checkpoint. ``optuna-dashboard`` serves the study page.

The server is a private cluster (:mod:`postgresql_server`); the tests skip, saying why, where
the PostgreSQL binaries or the psycopg driver are missing (``.ci/run`` installs both).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from tests.workflow.postgresql_server import PostgresServer, free_port, missing
from tests.workflow.workflow_helpers import TINY, read_manifest, run_together, start
from trainlab.workflow.search.study import open_study, process_seed

SEARCH = """\
# @package _global_
search:
  study_name: workers
  n_trials: 4
  metric: train/loss
  direction: minimize
  pruner: {name: median, n_startup_trials: 100}  # no pruning
  heartbeat_interval: 1
  grace_period: 3
  max_retry: 1
  params:
    optimizer.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
    model.loss.prob_weight: {type: float, low: 1.0, high: 5.0}
"""
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


@pytest.fixture(scope="module")
def postgresql():
    """A PostgreSQL server of this module's own, stopped and deleted at its end."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    with PostgresServer() as server:
        yield server


def wait_for(condition, process, what: str, timeout: float = 1500):
    """Poll ``condition()`` until it returns a true value; fail if ``process`` ends first."""
    begin = time.monotonic()
    while not (value := condition()):
        if process.poll() is not None or time.monotonic() - begin > timeout:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(f"{what}: the search ended (exit {process.returncode}) or timed out first:\n"
                                 f"{process.log_path.read_text()[-4000:]}")
        time.sleep(0.5)
    return value


@pytest.mark.slow
def test_two_workers_share_a_postgresql_study_and_retry_a_killed_workers_trial(tmp_path, postgresql):
    url = postgresql.create_database("search")
    configs = tmp_path / "configs"
    (configs / "hparams_search").mkdir(parents=True)
    (configs / "hparams_search" / "workers.yaml").write_text(SEARCH)
    folder = tmp_path / "outputs" / "pg" / "search_workers"
    storage = optuna.storages.RDBStorage(url)  # creates Optuna's tables before the workers start
    search = start("tune", "--config-dir", str(configs), "hparams_search=workers", "exp_name=pg", "seed=7",
                   f"search.storage={url}", "search.n_workers=2", *TINY, "trainer.max_epochs=2", cwd=tmp_path)

    studies: list[optuna.Study] = []

    def killable():  # a trial of worker 1 that has saved its first epoch
        if not studies and "workers" in [s.study_name for s in optuna.get_all_study_summaries(storage)]:
            studies.append(optuna.load_study(study_name="workers", storage=storage))
        running = studies[0].get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if studies else []
        return next((t for t in running if t.user_attrs.get("worker") == 1
                     and (Path(t.user_attrs.get("run_dir", "/nowhere")) / "checkpoints" / "last.ckpt").is_file()),
                    None)

    try:
        victim = wait_for(killable, search, "worker 1 never saved a checkpoint")
        os.kill(victim.user_attrs["pid"], signal.SIGKILL)
        assert search.wait(timeout=1500) == 0, search.log_path.read_text()[-4000:]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(search.pid, signal.SIGKILL)
    output = search.log_path.read_text()
    assert f"worker 1 (pid {victim.user_attrs['pid']}) exited with status -9" in output

    study = optuna.load_study(study_name="workers", storage=storage)
    trials = study.trials
    assert [t.number for t in trials] == list(range(len(trials)))  # one numbering for both workers
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 4
    assert {t.user_attrs["worker"] for t in trials} == {0, 1}
    assert len({t.user_attrs["pid"] for t in trials}) == 2

    # The killed trial: failed by the heartbeat check (not by the start-up check of dead local
    # processes, which sets retry_of), retried once with its parameters, from its checkpoint.
    killed = trials[victim.number]
    assert killed.state == TrialState.FAIL
    retries = [t for t in trials if RetryHeartbeatStaleTrialCallback.retry_history(t) == [killed.number]]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE and "retry_of" not in retries[0].user_attrs
    assert retries[0].params == killed.params and retries[0].user_attrs["worker"] == 0
    resumed = read_manifest(folder / "trials" / f"{retries[0].number:04d}")
    assert resumed["resumed_from"] == str(folder / "trials" / f"{killed.number:04d}" / "checkpoints" / "last.ckpt")
    assert [h["epoch"] for h in resumed["history"]] == [0, 1]

    # Each worker sampled with its own seed; no drawn parameters repeat.
    for worker in (0, 1):
        own = [t for t in trials if t.user_attrs["worker"] == worker and t not in retries]
        assert {t.user_attrs["sampler_seed"] for t in own} == {process_seed(7, own[0].number)}
    drawn = [tuple(sorted(t.params.items())) for t in trials if t not in retries]
    assert len(set(drawn)) == len(drawn)
    assert f"trial {victim.number}:" in (folder / "tune_worker1.log").read_text()
    assert (folder / "best_params.yaml").is_file()
    assert "search.worker" not in (folder / ".hydra" / "overrides.yaml").read_text()  # worker 0 wrote .hydra/


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
