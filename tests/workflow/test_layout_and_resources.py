"""Sweep layout, job planning, liveness and machine sharing: the pieces of a sweep job, on real files and processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from trainlab.engine.layout import job_dirname, safe_name, sweep_dir, swept_keys
from trainlab.workflow.liveness import process_alive
from trainlab.workflow.resources import GpuSlot, threads_per_job
from trainlab.workflow.resume import plan_job


def compose_root(name: str, *overrides: str):
    with initialize_config_module(config_module="trainlab.configs", version_base="1.3"):
        return compose(config_name=name, overrides=list(overrides), return_hydra_config=True)


def test_safe_name_keeps_overrides_readable_and_removes_path_separators():
    assert safe_name("3_model.encoder.model_name=resnet18,optimizer.lr=0.001") == \
        "3_model.encoder.model_name=resnet18,optimizer.lr=0.001"
    assert safe_name("0_data.root=/work/data/sroie") == "0_data.root=_work_data_sroie"
    assert "/" not in safe_name("a/b\\c:d*e?f\"g<h>i|j\x00k")


def test_long_names_are_cut_and_stay_distinct():
    a, b = "0_" + "x" * 300 + "=1", "0_" + "x" * 300 + "=2"
    assert safe_name(a) != safe_name(b)
    assert max(len(safe_name(a).encode()), len(safe_name("é" * 300).encode())) <= 200


def test_job_folder_is_named_by_the_swept_overrides_only(tmp_path):
    command = ["exp_name=grid", "launcher=parallel", "trainer.max_epochs=1", "optimizer.lr=0.001,0.003",
               "model.encoder.model_name=resnet18,mobilenetv3_large_100", "seed=range(1,3)"]
    assert swept_keys(command) == ["optimizer.lr", "model.encoder.model_name", "seed"]
    OmegaConf.save({"hydra": {"overrides": {"task": command}}}, tmp_path / "multirun.yaml")
    job = ["exp_name=grid", "launcher=parallel", "trainer.max_epochs=1", "optimizer.lr=0.003",
           "model.encoder.model_name=resnet18", "seed=2"]
    assert job_dirname(str(tmp_path), 5, job) == "5_optimizer.lr=0.003,model.encoder.model_name=resnet18,seed=2"
    # Without multirun.yaml every override that changes the computation names the folder.
    assert job_dirname(str(tmp_path / "elsewhere"), 5, job) == \
        "5_trainer.max_epochs=1,optimizer.lr=0.003,model.encoder.model_name=resnet18,seed=2"


def test_resume_sweep_must_name_an_existing_folder(tmp_path):
    assert sweep_dir(None, "outputs/x/multirun_1") == "outputs/x/multirun_1"
    assert sweep_dir(str(tmp_path), "outputs/x/multirun_1") == str(tmp_path)
    with pytest.raises(FileNotFoundError, match="resume_sweep=.*no such sweep folder"):
        sweep_dir(str(tmp_path / "missing"), "outputs/x/multirun_1")


def test_launcher_choices_compose():
    parallel = compose_root("train", "launcher=parallel", "n_jobs=3")
    assert "joblib" in parallel.hydra.launcher._target_ and parallel.hydra.launcher.n_jobs == 3
    slurm = compose_root("train", "launcher=slurm", "hydra.launcher.partition=gpu")
    assert "SlurmLauncher" in slurm.hydra.launcher._target_ and slurm.hydra.launcher.partition == "gpu"
    assert "BasicLauncher" in compose_root("train").hydra.launcher._target_


def _manifest(folder: Path, **fields) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(fields))


def test_plan_job_skips_finished_resumes_from_last_checkpoint_and_runs_the_rest(tmp_path):
    _manifest(tmp_path / "done", status="finished", final={"val/hmean": 0.5})
    (tmp_path / "done" / "checkpoints").mkdir()
    (tmp_path / "done" / "checkpoints" / "last.ckpt").write_bytes(b"x")
    _manifest(tmp_path / "cut", status="running")
    (tmp_path / "cut" / "checkpoints").mkdir()
    (tmp_path / "cut" / "checkpoints" / "last.ckpt").write_bytes(b"x")
    _manifest(tmp_path / "failed", status="failed", error="ValueError: x")
    assert plan_job(tmp_path / "done").action == "skip"
    plan = plan_job(tmp_path / "cut")
    assert plan.action == "resume" and plan.checkpoint == tmp_path / "cut" / "checkpoints" / "last.ckpt"
    assert plan.manifest["status"] == "running"
    assert plan_job(tmp_path / "failed").action == "run"
    assert plan_job(tmp_path / "new").action == "run"
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{\n oops")
    with pytest.raises(ValueError, match=r"bad/manifest.json:2: not valid JSON"):
        plan_job(tmp_path / "bad")


def test_a_dead_process_is_told_from_a_live_one():
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(done.stdout)
    host = socket.gethostname()
    now = "2999-01-01T00:00:00+00:00"  # a heartbeat from the future is never stale
    assert process_alive({"pid": os.getpid(), "host": host, "heartbeat": now})
    assert not process_alive({"pid": dead, "host": host, "heartbeat": now})
    # Killed but not yet reaped by its parent (a zombie): dead.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert process_alive({"pid": child.pid, "host": host, "heartbeat": now})
        child.kill()
        deadline = time.monotonic() + 10
        while process_alive({"pid": child.pid, "host": host, "heartbeat": now}) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process_alive({"pid": child.pid, "host": host, "heartbeat": now})
    finally:
        child.kill()
        child.wait()
    # Another machine: judged by the heartbeat alone.
    assert process_alive({"pid": dead, "host": "elsewhere", "heartbeat": now})
    assert not process_alive({"pid": dead, "host": "elsewhere", "heartbeat": "2000-01-01T00:00:00+00:00"})


def test_threads_are_shared_between_parallel_jobs():
    assert threads_per_job(2, cores=2) == 1
    assert threads_per_job(3, cores=16) == 5
    assert threads_per_job(8, cores=2) == 1
    assert threads_per_job(-1, cores=4) == 1


HOLD = """
import sys, time
from trainlab.workflow.resources import GpuSlot
with GpuSlot(2, lock_dir=sys.argv[1]) as slot:
    print(slot.index, flush=True)
    time.sleep(60)
"""


def test_gpu_slots_are_exclusive_and_freed_when_the_holder_dies(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "0"
        with GpuSlot(2, lock_dir=tmp_path) as mine:
            assert mine.index == 1  # GPU 0 is held by the other process
            with pytest.raises(TimeoutError, match="no free GPU among 2"):
                with GpuSlot(2, lock_dir=tmp_path, poll_seconds=0.05, timeout=0.2):
                    pass
        holder.kill()
        holder.wait()
        with GpuSlot(2, lock_dir=tmp_path, timeout=5) as again:
            assert again.index == 0  # the kernel released the dead holder's lock
    finally:
        holder.kill()
        holder.wait()


def test_probe_jobs_use_every_swept_value_once():
    from trainlab.workflow.sweep_check import probe_jobs

    jobs = probe_jobs(["exp_name=x", "a=1,2,3", "b=x,y", "c=5"])
    assert jobs == [["exp_name=x", "a=1", "b=x", "c=5"], ["exp_name=x", "a=2", "b=x", "c=5"],
                    ["exp_name=x", "a=3", "b=x", "c=5"], ["exp_name=x", "a=1", "b=y", "c=5"]]


def test_a_sweep_with_a_value_that_cannot_compose_does_not_start(tmp_path):
    done = subprocess.run([sys.executable, "-m", "trainlab", "train", "-m", "exp_name=bad", "optimizer=adam,nadam",
                           "optimizer.lr=0.001,0.003", "data.limit_trian=2,3"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    output = done.stdout + done.stderr
    assert "the sweep did not start" in output
    assert "optimizer=nadam: In 'train': Could not find 'optimizer/nadam'" in output
    assert "data.limit_trian=3" in output  # a key that is not in the config
    assert not list((tmp_path / "outputs" / "bad").glob("*/*"))  # no job ran
