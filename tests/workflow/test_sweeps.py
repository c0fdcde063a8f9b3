"""Real sweeps on the embedded receipts: parallel jobs, their layout, collect and ablate, resume, failures.

These tests train for real (one tiny epoch per job) and are marked ``slow``.
"""

from __future__ import annotations

import statistics
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from tests.workflow.workflow_helpers import (
    TINY,
    kill_when,
    read_manifest,
    start,
    trainlab,
)
from trainlab.cli.ablate import main as ablate
from trainlab.cli.collect import main as collect
from trainlab.workflow.resources import threads_per_job

pytestmark = pytest.mark.slow

GRID = ["train", "-m", "exp_name=grid", "launcher=parallel", "n_jobs=2", *TINY, "optimizer.lr=0.001,0.003", "seed=1,2"]
JOBS = ["0_optimizer.lr=0.001,seed=1", "1_optimizer.lr=0.001,seed=2", "2_optimizer.lr=0.003,seed=1",
        "3_optimizer.lr=0.003,seed=2"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """A 2x2 sweep (learning rate x seed) run 2 jobs at a time; returns its sweep folder."""
    work = tmp_path_factory.mktemp("work")
    trainlab(*GRID, cwd=work)
    (folder,) = (work / "outputs" / "grid").iterdir()
    return folder


def test_every_combination_runs_in_its_own_complete_folder(sweep):
    assert sweep.name.startswith("multirun_")
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == JOBS
    multirun = OmegaConf.load(sweep / "multirun.yaml")
    assert {"optimizer.lr=0.001,0.003", "seed=1,2", "n_jobs=2"} <= set(multirun.hydra.overrides.task)
    assert "joblib" in multirun.hydra.launcher._target_ and multirun.hydra.launcher.n_jobs == 2
    for name in JOBS:
        job = sweep / name
        manifest = read_manifest(job)
        lr, seed = float(name.split("lr=")[1].split(",")[0]), int(name.split("seed=")[1])
        assert manifest["status"] == "finished", manifest["error"]
        assert (manifest["config"]["optimizer"]["lr"], manifest["seed"]) == (lr, seed)
        assert f"optimizer.lr={lr}" in OmegaConf.load(job / ".hydra" / "overrides.yaml")
        assert (job / "checkpoints" / "last.ckpt").is_file() and (job / "logs" / "csv" / "metrics.csv").is_file()
        assert manifest["hardware"]["torch_threads"] == threads_per_job(2)


def test_two_jobs_really_run_at_the_same_time(sweep):
    runs = [read_manifest(sweep / name) for name in JOBS]
    spans = [(datetime.fromisoformat(m["started"]), datetime.fromisoformat(m["ended"]), m["pid"]) for m in runs]
    overlapping = [(a, b) for i, a in enumerate(spans) for b in spans[i + 1:] if max(a[0], b[0]) < min(a[1], b[1])]
    assert overlapping, spans
    assert all(a[2] != b[2] for a, b in overlapping)  # in different processes


def _manifest_groups(sweep: Path, value) -> dict[float, list[float]]:
    groups: dict[float, list[float]] = {}
    for name in JOBS:
        manifest = read_manifest(sweep / name)
        groups.setdefault(manifest["config"]["optimizer"]["lr"], []).append(value(manifest))
    return groups


@pytest.mark.parametrize("metric, value", [
    ("last/train/loss", lambda m: m["history"][-1]["train/loss"]),
    ("val/hmean", lambda m: m["final"]["val/hmean"]),
])
def test_collect_then_ablate_gives_the_numbers_of_the_manifests(sweep, tmp_path, metric, value):
    results = tmp_path / "results.csv"
    assert collect([str(sweep), "-o", str(results)]) == 0
    runs = pd.read_csv(results)
    assert sorted(runs["run"]) == JOBS and set(runs["status"]) == {"finished"}
    assert sorted(runs["optimizer.lr"]) == [0.001, 0.001, 0.003, 0.003] and sorted(runs["seed"]) == [1, 1, 2, 2]

    assert ablate([str(results), "--metric", metric, "--format", "csv", "-o", str(tmp_path / "table.csv"),
                   "--plots", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "table.csv")
    expected = _manifest_groups(sweep, value)
    assert sorted(table["optimizer.lr"]) == sorted(expected)
    for _, row in table.iterrows():
        values = expected[row["optimizer.lr"]]
        assert row[f"{metric} mean"] == pytest.approx(statistics.mean(values), abs=1e-12)
        assert row[f"{metric} std"] == pytest.approx(statistics.stdev(values), abs=1e-12)
        assert row["runs"] == 2 and row["seeds"] == "1 2"
    means = list(table[f"{metric} mean"])
    assert means == sorted(means, reverse="loss" not in metric) and list(table["best"]) == [True, False]
    for plot in (f"{metric.replace('/', '_')}_vs_parameters.png", "training_curves.png"):
        assert (tmp_path / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert ablate([str(results), "--metric", metric, "-o", str(tmp_path / "table.md"), "--no-plots"]) == 0
    lines = (tmp_path / "table.md").read_text().splitlines()
    best = table.iloc[0]
    assert lines[0].startswith(f"| optimizer.lr | {metric} | runs | seeds |")
    assert lines[2].startswith(f"| **{best['optimizer.lr']}** | **{best[f'{metric} mean']:.4f} ± "
                               f"{best[f'{metric} std']:.4f}** |")
    assert "**" not in lines[3]


def test_rerunning_the_sweep_skips_the_finished_jobs(sweep):
    work = sweep.parents[2]
    before = {name: read_manifest(sweep / name) for name in JOBS}
    done = trainlab(*GRID, f"resume_sweep={sweep}", cwd=work)
    assert (done.stdout + done.stderr).count("finished in an earlier run of this sweep, skipped") == 4
    assert [p.name for p in (work / "outputs" / "grid").iterdir()] == [sweep.name]
    assert {name: read_manifest(sweep / name) for name in JOBS} == before


def test_resume_sweep_refuses_a_missing_folder(tmp_path):
    done = trainlab(*GRID, f"resume_sweep={tmp_path / 'nowhere'}", cwd=tmp_path, expect=1)
    assert "no such sweep folder" in done.stderr


def test_a_failing_job_is_recorded_and_the_others_finish_and_resume(tmp_path):
    """Two jobs in parallel: job 0 fails (a bad override value) while job 1 trains on; the
    sweep is killed during job 1's second epoch. Re-running the command (this time one job at
    a time) fails job 0 again, resumes job 1 from its last.ckpt to the end, then exits 1."""
    args = ["train", "-m", "exp_name=faults", *TINY, "trainer.max_epochs=2", "optimizer.name=bogus,adam"]
    first = start(*args, "launcher=parallel", "n_jobs=2", cwd=tmp_path)
    outputs = tmp_path / "outputs" / "faults"
    last = lambda: next(outputs.glob("*/1_optimizer.name=adam/checkpoints/last.ckpt"), None)  # noqa: E731
    kill_when(first, lambda: last() is not None)
    sweep = last().parents[2]
    failed, killed = sweep / "0_optimizer.name=bogus", sweep / "1_optimizer.name=adam"
    manifest = read_manifest(failed)
    assert manifest["status"] == "failed" and "unknown optimizer.name 'bogus'" in manifest["error"]
    assert read_manifest(killed)["status"] == "running"  # what a killed process leaves behind
    assert collect([str(sweep), "-o", str(tmp_path / "before.csv")]) == 0
    statuses = pd.read_csv(tmp_path / "before.csv").set_index("run")["status"].to_dict()
    assert statuses == {failed.name: "failed", killed.name: "interrupted"}

    done = trainlab(*args, f"resume_sweep={sweep}", cwd=tmp_path, expect=1)
    assert "job 0_optimizer.name=bogus failed" in done.stderr + done.stdout
    resumed = read_manifest(killed)
    assert resumed["status"] == "finished", resumed["error"]
    assert resumed["resumed_from"] == str(killed / "checkpoints" / "last.ckpt")
    assert [h["epoch"] for h in resumed["history"]] == [0, 1]
    assert read_manifest(failed)["status"] == "failed"
