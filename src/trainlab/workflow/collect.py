"""One table row per run: ``trainlab collect <outputs dir> [-o results.csv]``.

Walks a folder for ``manifest.json`` files (written by
:class:`~trainlab.engine.callbacks.run_manifest.RunManifest`) and makes one row per run:

- ``run`` (folder relative to the collected root), ``run_dir`` (absolute here; the command
  writes it relative to the CSV), ``exp_name``, ``task``, and the metric the run was judged by
  with its direction (``optimized_metric``, ``optimized_direction``: ``max`` or ``min``);
- ``status``: ``finished``, ``failed`` (with ``error``), ``pruned`` (search trials), or
  ``interrupted``: stopped by the user, or a ``running`` record whose process is gone
  (:func:`~trainlab.workflow.liveness.process_alive`); ``running`` only for live ones;
- one column per command-line override of the run, from ``.hydra/overrides.yaml``, named by
  its key and typed by Hydra's override parser (``optimizer.lr`` -> 0.001), and ``overrides``,
  all of them as one string;
- metrics: every ``final`` entry as is (``val/hmean``: the best checkpoint's score,
  ``test/hmean``...), and for every metric of the per-epoch history ``best/<metric>``
  (in the run's optimized direction for its optimized metric; else lowest for losses and
  errors, highest otherwise, :func:`metric_direction`) and ``last/<metric>`` (last epoch);
- ``seed``, ``epochs`` (epochs run), ``best_epoch``, ``wall_seconds``, ``params`` and
  ``trainable_params``, ``started``, ``ended``, ``host``, ``resumed_from``, ``git_commit``;
- ``mlflow/<metric>``: the last values logged to MLflow, when the run has an ``mlruns``
  folder and :mod:`mlflow` is installed (it is not a trainlab dependency).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from trainlab.workflow.liveness import STALE_AFTER, process_alive

log = logging.getLogger(__name__)

#: Columns every row has, in this order; the override and metric columns follow.
STANDARD_COLUMNS = [
    "run", "status", "error", "exp_name", "task", "optimized_metric", "optimized_direction", "seed", "epochs", "best_epoch", "wall_seconds", "params",
    "trainable_params", "overrides", "started", "ended", "host", "resumed_from", "git_commit", "run_dir",
]
# Overrides that say where or how a run ran, not what it computed: no column of their own.
_NOT_PARAMETERS = {"exp_name", "launcher", "n_jobs", "resume_sweep", "ckpt_path", "resume", "paths.output_dir",
                   "paths.output_root"}
# Words of metric names where lower is better (losses and error measures).
_LOWER_IS_BETTER = ("loss", "error", "rmse", "mae", "mse", "mard", "fid", "latency")


def find_manifests(root: str | Path) -> Iterator[Path]:
    """Every ``manifest.json`` under ``root`` (``root`` itself may be a run folder), sorted by path."""
    root = Path(root)
    yield from sorted(root.rglob("manifest.json"))


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """``["optimizer.lr=0.001", "model=dbnet"]`` -> ``{"optimizer.lr": 0.001, "model": "dbnet"}``.

    Values are typed by Hydra's override grammar; ``+key``/``++key`` count as ``key``, deletions
    (``~key``) as ``None``. A line Hydra cannot parse keeps its text as the value.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    values: dict[str, Any] = {}
    for line in overrides:
        try:
            override = parser.parse_override(str(line))
        except Exception:
            key, _, value = str(line).partition("=")
            values[key.lstrip("+~")] = value
            continue
        key = override.get_key_element().lstrip("+~")
        values[key] = None if override.is_delete() else override.value()
    return values


def metric_direction(name: str, optimized_metric: str | None = None, optimized_direction: str | None = None) -> str:
    """``max`` or ``min``: whether a higher or a lower value of metric ``name`` is better.

    The run's declared direction holds for its optimized metric (also under ``best/``,
    ``last/`` and ``test/`` spellings of it); other names are judged by their words: lower is
    better for losses and errors (``loss``, ``error``, ``rmse``, ``mae``, ``mse``, ``mard``,
    ``fid``, ``latency``), higher otherwise.
    """
    base = name.split("/", 1)[1] if name.startswith(("best/", "last/")) else name
    if optimized_metric and optimized_direction in ("max", "min"):
        tail = optimized_metric.split("/", 1)[-1]
        if base == optimized_metric or base == f"test/{tail}":
            return str(optimized_direction)
    return "min" if any(word in base.lower() for word in _LOWER_IS_BETTER) else "max"


def history_metrics(history: Sequence[Mapping[str, Any]], optimized_metric: str | None = None,
                    optimized_direction: str | None = None) -> dict[str, float]:
    """``best/<metric>`` and ``last/<metric>`` of every numeric ``train/*`` and ``val/*`` history entry
    (best in :func:`metric_direction`)."""
    row: dict[str, float] = {}
    names = sorted({k for h in history for k, v in h.items()
                    if (k.startswith("train/") or k.startswith("val/")) and isinstance(v, (int, float))})
    for name in names:
        values = [float(h[name]) for h in history if isinstance(h.get(name), (int, float))]
        if values:
            direction = metric_direction(name, optimized_metric, optimized_direction)
            row[f"best/{name}"] = min(values) if direction == "min" else max(values)
            row[f"last/{name}"] = values[-1]
    return row


def run_status(manifest: Mapping[str, Any], stale_after: float = STALE_AFTER) -> tuple[str, str | None]:
    """``(status, error)`` of a run; a ``running`` record whose process is gone becomes ``interrupted``."""
    status, error = manifest.get("status") or "unknown", manifest.get("error")
    if status == "running" and not process_alive(dict(manifest), stale_after):
        return "interrupted", (f"process {manifest.get('pid')} on {manifest.get('host')} is gone "
                               f"(last heartbeat {manifest.get('heartbeat')})")
    return status, error


def mlflow_metrics(run_dir: Path) -> dict[str, float]:
    """Last logged value of every MLflow metric of the run's ``mlruns`` folder (``{}`` without one or without mlflow)."""
    stores = [p for p in (run_dir / "mlruns", run_dir / "logs" / "mlruns") if p.is_dir()]
    if not stores:
        return {}
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        return {}
    client = MlflowClient(tracking_uri=stores[0].resolve().as_uri())
    experiments = client.search_experiments()
    runs = client.search_runs([e.experiment_id for e in experiments], order_by=["attributes.start_time DESC"], max_results=1)
    return {f"mlflow/{k}": float(v) for k, v in (runs[0].data.metrics.items() if runs else [])}


def collect_run(manifest_path: Path, root: Path, stale_after: float = STALE_AFTER) -> dict[str, Any]:
    """The row of the run whose manifest is ``manifest_path`` (see the module docstring for the columns).

    Raises:
        ValueError: the manifest or ``.hydra/overrides.yaml`` is not valid JSON / YAML (names the file).
    """
    run_dir = manifest_path.parent
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{manifest_path}:{error.lineno}: not valid JSON ({error.msg})") from error
    overrides_path = run_dir / ".hydra" / "overrides.yaml"
    try:
        overrides = list(yaml.safe_load(overrides_path.read_text(encoding="utf-8")) or []) if overrides_path.is_file() else []
    except yaml.YAMLError as error:
        raise ValueError(f"{overrides_path}: not valid YAML ({error})") from error
    status, error = run_status(manifest, stale_after)
    history = manifest.get("history") or []
    params = manifest.get("params") or {}
    config = manifest.get("config") or {}
    optimized = manifest.get("optimized") or {"metric": config.get("optimized_metric"),
                                              "direction": config.get("optimized_direction")}
    row: dict[str, Any] = {
        "run": str(run_dir.relative_to(root)) if run_dir != root else run_dir.name,
        "status": status,
        "error": error,
        "exp_name": manifest.get("exp_name"),
        "task": manifest.get("task") or config.get("task"),
        "optimized_metric": optimized.get("metric"),
        "optimized_direction": optimized.get("direction"),
        "seed": manifest.get("seed"),
        "epochs": len(history),
        "best_epoch": (manifest.get("best") or {}).get("epoch"),
        "wall_seconds": manifest.get("wall_seconds"),
        "params": params.get("total"),
        "trainable_params": params.get("trainable"),
        "overrides": " ".join(str(o) for o in overrides),
        "started": manifest.get("started"),
        "ended": manifest.get("ended"),
        "host": manifest.get("host") or (manifest.get("hardware") or {}).get("hostname"),
        "resumed_from": manifest.get("resumed_from"),
        "git_commit": (manifest.get("git") or {}).get("commit"),
        "run_dir": str(run_dir.resolve()),
    }
    for key, value in parse_overrides(overrides).items():
        if key not in row and key not in _NOT_PARAMETERS and not key.startswith("hydra"):
            row[key] = value
    row.update({k: v for k, v in (manifest.get("final") or {}).items() if isinstance(v, (int, float))})
    row.update(history_metrics(history, optimized.get("metric"), optimized.get("direction")))
    row.update(mlflow_metrics(run_dir))
    return row


def collect(root: str | Path, stale_after: float = STALE_AFTER) -> pd.DataFrame:
    """One row per run under ``root`` (columns: :data:`STANDARD_COLUMNS`, overrides, metrics).

    Raises:
        FileNotFoundError: ``root`` is not a folder, or holds no ``manifest.json``.
        ValueError: a manifest or overrides file is unreadable (names the file).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder; give a folder of runs, e.g. outputs/<exp_name>")
    rows = [collect_run(path, root, stale_after) for path in find_manifests(root)]
    if not rows:
        raise FileNotFoundError(f"{root}: no manifest.json below it; runs written by 'trainlab train' or "
                                f"'trainlab tune' have one")
    frame = pd.DataFrame(rows)
    rest = [c for c in frame.columns if c not in STANDARD_COLUMNS]
    parameters = [c for c in rest if "/" not in c]
    metrics = sorted(c for c in rest if "/" in c)
    return frame[STANDARD_COLUMNS + parameters + metrics]


def parameter_columns(frame: pd.DataFrame) -> list[str]:
    """The override columns of a collected table (neither standard nor metric columns)."""
    return [c for c in frame.columns if c not in STANDARD_COLUMNS and "/" not in c]


#: MLflow run status -> trainlab run status.
_MLFLOW_STATUS = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "interrupted", "RUNNING": "running",
                  "SCHEDULED": "running"}


def _tag_matches(tags: Mapping[str, str], wanted: str) -> bool:
    """``key=value``: the run has tag ``key`` with that value; ``word``: a tag named ``word`` or of value ``word``."""
    if "=" in wanted:
        key, _, value = wanted.partition("=")
        return tags.get(key) == value
    return wanted in tags or wanted in tags.values()


def _iso(milliseconds: int | None) -> str | None:
    from datetime import datetime, timezone

    if milliseconds is None:
        return None
    return datetime.fromtimestamp(milliseconds / 1000, timezone.utc).isoformat(timespec="milliseconds")


def _number(text: str | None) -> Any:
    try:
        return int(text) if text is not None and str(text).lstrip("-").isdigit() else text
    except ValueError:
        return text


def collect_mlflow(project: str, tags: Sequence[str] = (), tracking_uri: str | None = None) -> pd.DataFrame:
    """One row per MLflow run of experiment ``project`` carrying every tag of ``tags``, with the
    columns of :func:`collect` where MLflow has them.

    Args:
        project: The MLflow experiment name (``logger.mlflow.experiment_name``, default the run's ``exp_name``).
        tags: Filters, all required: ``key=value`` (tag ``key`` equals ``value``) or ``word``
            (a tag named ``word`` or with value ``word``).
        tracking_uri: ``http://host:port`` or a local store URI (``sqlite:///outputs/mlflow.db``);
            default: ``$MLFLOW_TRACKING_URI``, else MLflow's own default.

    Columns: ``run`` (run name), ``status`` (FINISHED / FAILED / KILLED / RUNNING as finished /
    failed / interrupted / running), ``exp_name``, ``task``, ``optimized_metric`` and
    ``optimized_direction``, ``seed``, ``resumed_from`` (the logged config), ``epochs`` (epochs
    with a logged ``epoch``), ``wall_seconds``, ``started``, ``ended`` (the run's times),
    ``overrides`` and one column per override (tag ``trainlab.overrides``), ``run_dir`` (tag
    ``trainlab.run_dir``), ``mlflow_run_id``; metrics: ``best/`` and ``last/`` of every
    ``train/*`` and ``val/*`` metric history (:func:`history_metrics`, per logged step; a
    ``<name>_epoch`` value is named ``<name>`` and ``_step`` values are left out, as in
    the manifest's history), the
    optimized metric as its best value (as a manifest's ``final``), and the last value of every
    other metric (``test/*``). ``error``, ``best_epoch``, ``params``, ``trainable_params``,
    ``host`` and ``git_commit`` are empty: MLflow does not hold them (the manifest artifact does).

    Raises:
        ModuleNotFoundError: mlflow is not installed (``pip install -e ".[tracking]"``).
        FileNotFoundError: no experiment ``project`` at the tracking URI, or no run matches.
        ValueError: a run's ``trainlab.overrides`` tag is not a JSON list (names the run).
    """
    from mlflow.tracking import MlflowClient

    from trainlab.engine.tracking import OVERRIDES_TAG, RUN_DIR_TAG, TASK_TAG

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(project)
    if experiment is None:
        names = sorted(e.name for e in client.search_experiments())
        raise FileNotFoundError(f"no MLflow experiment {project!r} at {client.tracking_uri}; "
                                f"experiments there: {', '.join(names) or 'none'}")
    runs = [r for r in client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"],
                                          max_results=50000)
            if all(_tag_matches(r.data.tags, t) for t in tags)]
    if not runs:
        raise FileNotFoundError(f"no run of MLflow experiment {project!r} at {client.tracking_uri} has the "
                                f"tags {', '.join(tags)}")
    rows = []
    for run in runs:
        params, run_tags = run.data.params, run.data.tags
        try:
            overrides = [str(o) for o in json.loads(run_tags.get(OVERRIDES_TAG) or "[]")]
        except json.JSONDecodeError as error:
            raise ValueError(f"MLflow run {run.info.run_id}: tag {OVERRIDES_TAG} is not a JSON list ({error})") from error
        optimized = {"metric": params.get("optimized_metric"), "direction": params.get("optimized_direction")}
        steps: dict[int, dict[str, float]] = {}
        for name in run.data.metrics:
            if name == "epoch" or (name.startswith(("train/", "val/")) and not name.endswith("_step")):
                # As in the manifest: a value logged per step and per epoch is named by its epoch value.
                short = name[:-len("_epoch")] if name.endswith("_epoch") else name
                for point in client.get_metric_history(run.info.run_id, name):
                    steps.setdefault(point.step, {})[short] = point.value
        history = [steps[s] for s in sorted(steps)]
        row: dict[str, Any] = {column: None for column in STANDARD_COLUMNS}
        row.update({
            "run": run.info.run_name,
            "status": _MLFLOW_STATUS.get(run.info.status, run.info.status.lower()),
            "exp_name": params.get("exp_name"),
            "task": run_tags.get(TASK_TAG) or params.get("task"),
            "optimized_metric": optimized["metric"],
            "optimized_direction": optimized["direction"],
            "seed": _number(params.get("seed")),
            "epochs": len({h["epoch"] for h in history if "epoch" in h}),
            "wall_seconds": (run.info.end_time - run.info.start_time) / 1000 if run.info.end_time else None,
            "overrides": " ".join(overrides),
            "started": _iso(run.info.start_time),
            "ended": _iso(run.info.end_time),
            "resumed_from": None if params.get("ckpt_path") in (None, "None") else params.get("ckpt_path"),
            "run_dir": run_tags.get(RUN_DIR_TAG),
            "mlflow_run_id": run.info.run_id,
        })
        for key, value in parse_overrides(overrides).items():
            if key not in row and key not in _NOT_PARAMETERS and not key.startswith("hydra"):
                row[key] = value
        row.update({k: v for k, v in run.data.metrics.items() if not k.startswith(("train/", "val/")) and k != "epoch"})
        row.update(history_metrics(history, optimized["metric"], optimized["direction"]))
        if optimized["metric"] and f"best/{optimized['metric']}" in row:
            row[optimized["metric"]] = row[f"best/{optimized['metric']}"]
        rows.append(row)
    frame = pd.DataFrame(rows)
    rest = [c for c in frame.columns if c not in STANDARD_COLUMNS]
    return frame[STANDARD_COLUMNS + [c for c in rest if "/" not in c] + sorted(c for c in rest if "/" in c)]
