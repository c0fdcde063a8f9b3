"""MLflow against a real tracking server, W&B offline, progress lines in train.log, collect from MLflow.

One tiny real run (the default experiment on 2 embedded receipts, 2 epochs, stdout piped as
under CI or SLURM) logs to csv, to a private ``mlflow server`` (SQLite backend, loopback port)
and to an offline W&B run at once; every test reads back one side of it and compares it with
the run's own manifest.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import re
from pathlib import Path

import pytest

from tests.tools.mlflow_server import MLflowServer
from tests.workflow.workflow_helpers import TINY, read_manifest, trainlab
from trainlab.cli.collect import main as collect_command
from trainlab.workflow.collect import collect, collect_mlflow

mlflow_tracking = pytest.importorskip("mlflow.tracking", reason="mlflow is not installed: pip install -e '.[tracking]'")
pytest.importorskip("wandb", reason="wandb is not installed: pip install -e '.[tracking]'")

pytestmark = pytest.mark.slow

PROJECT = "OCR_Ablation"
# TINY without its logger override (this run chooses its loggers), for 2 epochs.
RUN = [o for o in TINY if not o.startswith(("logger.", "trainer.max_epochs"))] + ["trainer.max_epochs=2"]


@pytest.fixture(scope="module")
def server():
    with MLflowServer() as running:
        yield running


@pytest.fixture(scope="module")
def run(server, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("tracking")
    os.environ.setdefault("WANDB_MODE", "offline")  # no network, whatever the user's W&B settings
    trainlab("train", *RUN, "exp_name=tiny_tracking", "logger=[csv,mlflow,wandb]",
             f"logger.mlflow.tracking_uri={server.uri}", f"logger.mlflow.experiment_name={PROJECT}",
             "+logger.mlflow.tags={study: architecture_comparison}", "hydra.run.dir=outputs/run", cwd=work)
    return work / "outputs" / "run"


def test_mlflow_server_holds_params_epoch_metrics_and_artifacts(server, run):
    manifest = read_manifest(run)
    client = mlflow_tracking.MlflowClient(tracking_uri=server.uri)
    experiment = client.get_experiment_by_name(PROJECT)
    (found,) = client.search_runs([experiment.experiment_id])
    assert found.info.status == "FINISHED"
    assert found.data.tags["study"] == "architecture_comparison"
    assert found.data.tags["trainlab.run_dir"] == str(run.resolve())
    params = found.data.params
    assert params["optimizer/lr"] == str(manifest["config"]["optimizer"]["lr"])
    assert params["data/limit_train"] == "2" and params["exp_name"] == "tiny_tracking"
    assert params["model/neck/inner_channels"] == "32"
    # One value per epoch, the same as the manifest's history.
    epochs = [p.value for p in client.get_metric_history(found.info.run_id, "epoch")]
    assert sorted(set(epochs)) == [0.0, 1.0]
    losses = [p.value for p in sorted(client.get_metric_history(found.info.run_id, "train/loss_prob"), key=lambda p: p.step)]
    assert losses == pytest.approx([h["train/loss_prob"] for h in manifest["history"]])
    names = {a.path for a in client.list_artifacts(found.info.run_id)}
    assert {"manifest.json", "training_history.png", "checkpoints"} <= names
    best = Path(manifest["best"]["path"]).name
    assert [Path(a.path).name for a in client.list_artifacts(found.info.run_id, "checkpoints")] == [best]
    local = client.download_artifacts(found.info.run_id, "manifest.json", str(run.parent))
    assert json.loads(Path(local).read_text())["status"] == "finished"


def test_progress_lines_in_train_log(run):
    lines = [line for line in (run / "train.log").read_text().splitlines() if "progress_log" in line]
    pattern = re.compile(r"- epoch (\d)/2 \| step (\d+) \| train/loss [\d.]+ .*\| val/hmean [\d.]+ .*\| lr [\d.e+-]+ "
                         r"\| elapsed \d+:\d\d:\d\d \| eta \d+:\d\d:\d\d$")
    matches = [pattern.search(line) for line in lines]
    assert len(lines) == 2 and all(matches), lines
    assert [m.group(1) for m in matches] == ["1", "2"]
    assert [int(m.group(2)) for m in matches] == [h["step"] for h in read_manifest(run)["history"]]


def test_wandb_offline_run_holds_config_and_epoch_metrics(run):
    from tests.tools.wandb_records import read_records

    (log_file,) = glob.glob(str(run / "wandb" / "offline-run-*" / "run-*.wandb"))
    records = read_records(Path(log_file))
    kinds = [r.WhichOneof("record_type") for r in records]
    assert "exit" in kinds and kinds.count("run") == 1
    assert next(r.run for r in records if r.HasField("run")).project == "tiny_tracking"
    config = {u.key: json.loads(u.value_json) for r in records if r.HasField("config") for u in r.config.update}
    assert config["exp_name"] == "tiny_tracking" and config["data"]["limit_train"] == 2
    rows = [{i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item}
            for r in records if r.HasField("history")]
    manifest = read_manifest(run)
    assert [r["val/hmean"] for r in rows if "val/hmean" in r] == [h["val/hmean"] for h in manifest["history"]]
    assert [r["epoch"] for r in rows if "train/loss_prob" in r] == [0, 1]


def test_collect_reads_the_mlflow_project_like_the_manifests(server, run):
    out = run.parent / "mlflow_results.csv"
    # The command's own entry point, in this process (its parsing and CSV writing; no second interpreter).
    assert collect_command(["--project", PROJECT, "--tag", "architecture_comparison", "--tracking-uri", server.uri,
                            "-o", str(out)]) == 0
    (from_mlflow,) = list(csv.DictReader(out.open()))
    from_manifest = {k: "" if v is None else str(v) for k, v in collect(run).iloc[0].to_dict().items()}
    for column in ("status", "exp_name", "task", "optimized_metric", "optimized_direction", "seed", "epochs",
                   "overrides", "data.limit_train", "trainer.max_epochs"):
        assert from_mlflow[column] == from_manifest[column], column
    assert (out.parent / from_mlflow["run_dir"]).resolve() == Path(from_manifest["run_dir"])  # CSV: relative
    metrics = [c for c in from_manifest if c.startswith(("best/", "last/")) or c == "val/hmean"]
    assert metrics and all(c in from_mlflow for c in metrics)
    for column in metrics:
        assert float(from_mlflow[column]) == pytest.approx(float(from_manifest[column]), rel=1e-6), column
    with pytest.raises(FileNotFoundError, match="has the tags study=other"):
        collect_mlflow(PROJECT, ["study=other"], server.uri)
