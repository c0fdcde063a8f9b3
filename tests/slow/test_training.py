"""Real training on the embedded receipts: the commands end to end and resume.

These tests train for real (tens of seconds each on 2 CPU cores) and are
marked ``slow``; ``pytest -m "not slow"`` skips them.
"""

from __future__ import annotations

import copy
import csv
import importlib.util
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from trainlab.engine.checkpoint import load_checkpoint, load_module
from trainlab.tasks.text_detection.module import TextDetectionModule

pytestmark = pytest.mark.slow

# A small, fast version of the default experiment: 4 train receipts, 256 px crops, 384 px eval.
TINY = [
    "data.limit_train=4",
    "data.batch_size=2",
    "data.image_size=256",
    "data.resize.size=384",
    "data.resize.max_side=768",
    "model.neck.inner_channels=64",
    "trainer.max_time=null",
    "callbacks.rich_progress_bar=null",
    "logger.tensorboard=null",
]


def trainlab(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the installed ``trainlab`` command as a user would."""
    done = subprocess.run([sys.executable, "-m", "trainlab", *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"trainlab {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """One real ``trainlab train`` run of 4 epochs; returns its run folder."""
    work = tmp_path_factory.mktemp("work")
    trainlab("train", *TINY, "trainer.max_epochs=4", "exp_name=tiny", "hydra.run.dir=outputs/tiny/run", cwd=work)
    return work / "outputs" / "tiny" / "run"


def test_training_run_leaves_a_complete_record(tiny_run):
    assert (tiny_run / ".hydra" / "config.yaml").is_file()
    assert (tiny_run / "training_history.png").stat().st_size > 10_000
    assert (tiny_run / "logs" / "csv" / "metrics.csv").is_file()
    checkpoints = sorted(p.name for p in (tiny_run / "checkpoints").iterdir())
    assert "last.ckpt" in checkpoints
    (best,) = [c for c in checkpoints if c.startswith("best-")]
    manifest = json.loads((tiny_run / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["error"] is None
    score = manifest["best"]["score"]
    assert best == f"best-epoch={manifest['best']['epoch']:02d}-val_hmean={score:.4f}.ckpt"
    for key in ("config", "seed", "git", "versions", "data", "params", "hardware", "history", "final", "tuned"):
        assert manifest[key] is not None, key
    assert manifest["seed"] == 42 and manifest["config"]["data"]["limit_train"] == 4
    # The installed distribution's version, which is torch.__version__ up to the local build tag.
    assert manifest["versions"]["torch"] == metadata.version("torch")
    assert manifest["versions"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert manifest["params"]["total"] == sum(p.numel() for p in load_module(tiny_run / "checkpoints" / best).parameters())
    assert len(manifest["data"]["sha256"]) == 64 and manifest["data"]["splits"]["train"]["images"] == 4
    assert [h["epoch"] for h in manifest["history"]] == [0, 1, 2, 3]
    assert {"test/precision", "test/recall", "test/hmean"} <= set(manifest["final"])
    # The tuned thresholds travel inside the best checkpoint.
    stored = load_checkpoint(tiny_run / "checkpoints" / best)["trainlab"]["postprocess"]
    assert stored == manifest["tuned"]["postprocess"]


def test_training_loss_drops(tiny_run):
    history = json.loads((tiny_run / "manifest.json").read_text())["history"]
    losses = [h["train/loss"] for h in history]
    assert losses[-1] < 0.85 * losses[0], losses


def test_eval_predict_and_score_agree(tiny_run, mini_root):
    work = tiny_run.parents[2]
    best = next((tiny_run / "checkpoints").glob("best-*.ckpt"))
    # The '=' signs in the checkpoint name need no quoting.
    trainlab("eval", f"ckpt_path={best}", "hydra.run.dir=outputs/eval_tiny", cwd=work)
    metrics = json.loads((work / "outputs" / "eval_tiny" / "metrics.json").read_text())
    final = json.loads((tiny_run / "manifest.json").read_text())["final"]
    assert metrics["hmean"] == pytest.approx(final["test/hmean"], abs=1e-6)
    with open(work / "outputs" / "eval_tiny" / "per_image.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8 and sum(int(r["matched"]) for r in rows) == metrics["matched"]
    # CLEval beside the IoU protocol, from the cleval package (installed with the dev extras).
    if importlib.util.find_spec("cleval") is not None:
        assert metrics["cleval"]["images"] == 8 and metrics["cleval_hmean"] == metrics["cleval"]["hmean"]
    # Thresholds given on the command line replace the tuned ones: near-zero ones keep more regions.
    trainlab("eval", f"ckpt_path={best}", "+postprocess.thresh=0.01", "+postprocess.box_thresh=0.0",
             "hydra.run.dir=outputs/eval_loose", cwd=work)
    loose = json.loads((work / "outputs" / "eval_loose" / "metrics.json").read_text())
    def params(record):
        return {k: v for k, v in record.items() if k != "source"}

    assert params(loose["postprocess"]) == {**params(metrics["postprocess"]), "thresh": 0.01, "box_thresh": 0.0}
    assert metrics["postprocess"]["source"] == "validation split"
    assert loose["postprocess"]["source"] == "validation split, overridden: box_thresh, thresh"
    assert loose["num_det_care"] > metrics["num_det_care"]

    trainlab("predict", f"ckpt_path={best}", f"input={mini_root / 'images' / 'test'}", "hydra.run.dir=outputs/pred", cwd=work)
    predictions = work / "outputs" / "pred"
    assert len(list(predictions.glob("res_*.txt"))) == 8 and len(list((predictions / "vis").glob("*.jpg"))) == 8
    submission = json.loads((predictions / "submission.json").read_text())
    assert sum(len(v) for v in submission.values()) == metrics["num_det_care"]
    scored = trainlab("score", "--gt", str(mini_root / "annotations" / "test"), "--pred", str(predictions), cwd=work)
    # Result files hold integer coordinates, so scores agree to rounding.
    assert json.loads(scored.stdout)["hmean"] == pytest.approx(metrics["hmean"], abs=0.01)


class CaptureOnTrainStart(Callback):
    def on_fit_start(self, trainer, pl_module):
        # The generators are restored with the checkpoint, before the first batch is prefetched.
        self.rng = torch.get_rng_state()

    def on_train_start(self, trainer, pl_module):
        self.epoch = trainer.current_epoch
        # Deep copies: optimizer state tensors are updated in place by the steps that follow.
        self.optimizer = copy.deepcopy(trainer.optimizers[0].state_dict())
        self.scheduler = copy.deepcopy(trainer.lr_scheduler_configs[0].scheduler.state_dict())


def test_resume_restores_epoch_optimizer_scheduler_and_rng(tmp_path, mini_root):
    """In-process: the state a resumed fit starts from is exactly the saved one."""
    from trainlab.engine.callbacks import RNGStateCallback
    from trainlab.tasks.text_detection.data.datamodule import TextDetectionDataModule

    def make():
        datamodule = TextDetectionDataModule(str(mini_root), val_split=0.2, batch_size=2, image_size=192,
                                             resize={"size": 256, "max_side": 512}, limit_train=2)
        model = TextDetectionModule(neck={"inner_channels": 32}, resize={"size": 256, "max_side": 512},
                                    optimizer={"name": "adamw", "lr": 1e-3},
                                    scheduler={"name": "cosine", "T_max": 4, "interval": "epoch"},
                                    tune_postprocess={"enabled": False})
        return datamodule, model

    common = dict(logger=False, enable_progress_bar=False, enable_model_summary=False, limit_val_batches=1,
                  default_root_dir=str(tmp_path))  # Lightning's default checkpoints go here, not to the cwd
    datamodule, model = make()
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True)
    L.Trainer(max_epochs=2, callbacks=[checkpoint, RNGStateCallback()], **common).fit(model, datamodule=datamodule)
    saved = torch.load(tmp_path / "last.ckpt", weights_only=True)
    datamodule, model = make()
    capture = CaptureOnTrainStart()
    L.Trainer(max_epochs=3, callbacks=[RNGStateCallback(), capture], **common).fit(
        model, datamodule=datamodule, ckpt_path=tmp_path / "last.ckpt")
    assert capture.epoch == 2
    assert capture.scheduler["last_epoch"] == saved["lr_schedulers"][0]["last_epoch"] == 2
    restored, original = capture.optimizer["state"], saved["optimizer_states"][0]["state"]
    assert restored.keys() == original.keys()
    for key in original:
        for name in ("step", "exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(restored[key][name], original[key][name])
    rng_state = next(v for k, v in saved["callbacks"].items() if "RNGState" in k)["torch"]
    assert torch.equal(capture.rng, rng_state)
