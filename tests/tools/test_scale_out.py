"""Scale-out configs: ``trainer=ddp`` across 2 nodes (2 gloo processes on CPU posing as nodes,
started as torchrun would: MASTER_ADDR/PORT, WORLD_SIZE, NODE_RANK, LOCAL_RANK), and ``trainer=fsdp``,
which Lightning accepts on GPUs only."""

from __future__ import annotations

import os
import subprocess

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from tests.workflow.postgresql_server import free_port
from tests.workflow.workflow_helpers import TINY, command, read_manifest
from trainlab.engine.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow


def test_ddp_on_two_nodes_of_one_cpu_process_each(tmp_path):
    port = str(free_port())
    args = command("train", *TINY, "trainer=ddp", "trainer.num_nodes=2", "trainer.devices=1", "trainer.accelerator=cpu",
                   "exp_name=two_nodes", "hydra.run.dir=outputs/run")
    processes = []
    for node in (0, 1):
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=port, WORLD_SIZE="2", NODE_RANK=str(node),
                   LOCAL_RANK="0", OMP_NUM_THREADS="1")
        with open(tmp_path / f"node{node}.log", "w") as log:
            processes.append(subprocess.Popen(args, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT))
    codes = []
    for process in processes:
        try:
            codes.append(process.wait(timeout=600))
        except subprocess.TimeoutExpired:
            process.kill()
            codes.append(process.wait())
    logs = [(tmp_path / f"node{n}.log").read_text()[-3000:] for n in (0, 1)]
    assert codes == [0, 0], logs
    run = tmp_path / "outputs" / "run"
    manifest = read_manifest(run)
    assert manifest["status"] == "finished"
    assert manifest["techniques"]["trainer"]["world_size"] == 2
    assert manifest["techniques"]["trainer"]["strategy"] == "DDPStrategy"
    assert load_checkpoint(run / "checkpoints" / "last.ckpt")["global_step"] == 1  # 2 images, 1 per process


def test_fsdp_config_builds_lightnings_strategy_and_is_gpu_only(tmp_path):
    with initialize_config_module(config_module="trainlab.configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=["trainer=fsdp", f"paths.output_dir={tmp_path}"])
    assert cfg.trainer.strategy._target_ == "lightning.pytorch.strategies.FSDPStrategy"
    cfg.trainer.accelerator = "cpu"
    with pytest.raises(InstantiationException, match="The strategy `fsdp` requires a GPU accelerator"):
        instantiate(cfg.trainer, logger=False)
