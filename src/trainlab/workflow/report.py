"""One self-contained HTML page for a run, a sweep or a search: ``trainlab report <outputs dir>``.

The page needs no other file, script, style sheet or font: every figure and image is embedded
as a base64 ``data:`` URI, so it can be mailed, attached to a pull request or opened offline.
It holds, for every run below the folder (every ``manifest.json``, as ``trainlab collect``
finds them):

1. a summary: the folder, runs per status, the task and the metric the runs were judged by;
2. the runs table (:func:`~trainlab.workflow.collect.collect`): status and error, the run's
   overrides, seed, epochs, best epoch, wall time, parameters and the final metrics;
3. the ablation table (:func:`~trainlab.workflow.ablate.ablation_table`): finished runs
   grouped by the swept parameters, mean ± sample std over each group's runs (seeds), best
   row in bold; and the metric against each swept parameter;
4. training curves (:func:`~trainlab.workflow.plots.plot_training_curves`): training loss and
   the judged metric per epoch, every run;
5. learning-rate schedules: for every run, the LR of each optimizer step as its ``optimizer``
   and ``scheduler`` config give it over the run's planned length (the simulation of
   ``trainlab plot-lr``, :func:`~trainlab.engine.schedule_preview.simulate_schedule`, with the
   steps per epoch the run counted), and as dots the LR each epoch actually trained with
   (the manifest's history);
6. manifest facts (commit, package versions, hardware, data fingerprint, parameters,
   techniques, best checkpoint, tuned decision parameters, final metrics): those all runs
   share once, the others per run, with the run's resolved config and its images.

Which images a run provides (a convention, so that the page needs no task-specific code):
every PNG, JPEG, GIF or WebP file directly in the run folder (``training_history.png``,
``lr_schedule.png`` of ``trainlab plot-lr``, ...), then every such file below a folder named
``samples`` or ``vis`` inside the run folder, at any depth (``trainlab predict
hydra.run.dir=<run>/predict ...`` writes text detection's drawn predictions to
``<run>/predict/vis/``; a task's writer puts its forecasts or sample grids in
``<run>/samples/``), without entering a nested run folder (one with its own
``manifest.json``) or ``checkpoints/``. At most ``samples`` images per run, in that order;
images wider or taller than :data:`MAX_IMAGE_SIDE` are downscaled (JPEG) to keep the page light.
Images directly in the reported folder, when it is not itself a run, are shown too (a
search's plots). Runs keep ``trainlab collect``'s order.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from trainlab.engine.io import atomic_write_text  # noqa: E402
from trainlab.workflow.ablate import ablation_table, display_table, optimized_of, swept_parameters  # noqa: E402
from trainlab.workflow.collect import collect  # noqa: E402
from trainlab.workflow.plots import plot_metric_vs_parameters, plot_training_curves  # noqa: E402

#: Folders whose images a run provides as samples (at any depth inside the run folder).
SAMPLE_FOLDERS = ("samples", "vis")
#: Image files a browser shows, by suffix, and their MIME types.
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp"}
#: Longest side (px) of an embedded image; larger ones are downscaled.
MAX_IMAGE_SIDE = 1280
#: Manifest entries shown as facts (flattened to dotted keys).
FACT_KEYS = ("status", "error", "exp_name", "task", "optimized", "seed", "started", "ended", "wall_seconds", "host",
             "resumed_from", "git", "versions", "hardware", "data", "params", "best", "tuned", "final", "techniques")
#: Pages of at most this many runs show every run's section open; larger ones start collapsed.
OPEN_RUNS = 6
STATUS_ORDER = ("finished", "failed", "pruned", "interrupted", "running", "unknown")


# Embedding ---------------------------------------------------------------------------------

def data_uri(content: bytes, mime: str) -> str:
    """``data:<mime>;base64,...`` (RFC 2397) for ``content``."""
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


def figure_uri(figure: plt.Figure, dpi: int = 100) -> str:
    """A matplotlib figure as a PNG data URI; the figure is closed."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return data_uri(buffer.getvalue(), "image/png")


def image_uri(path: Path, max_side: int = MAX_IMAGE_SIDE) -> str:
    """An image file as a data URI: its bytes as they are, or, when a side exceeds
    ``max_side`` px, downscaled (OpenCV ``INTER_AREA``) and re-encoded as JPEG (quality 85).

    Raises:
        ValueError: the file does not decode as an image (names it).
    """
    import cv2
    import numpy as np

    content = path.read_bytes()
    image = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None and path.suffix.lower() not in (".gif", ".webp"):
        raise ValueError(f"{path}: not an image OpenCV decodes")
    if image is None or max(image.shape[:2]) <= max_side:
        return data_uri(content, IMAGE_TYPES[path.suffix.lower()])
    scale = max_side / max(image.shape[:2])
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    _, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return data_uri(encoded.tobytes(), "image/jpeg")


def _written_png(draw: Callable[[Path], Any]) -> str:
    """Data URI of the PNG a file-writing plot function (``draw(path)``) makes."""
    with tempfile.TemporaryDirectory(prefix="trainlab-report-") as folder:
        path = Path(folder) / "figure.png"
        draw(path)
        return data_uri(path.read_bytes(), "image/png")


# What a run folder holds -------------------------------------------------------------------

def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_TYPES)


def _sample_folders(folder: Path) -> Iterator[Path]:
    for child in sorted(p for p in folder.iterdir() if p.is_dir()):
        if child.name == "checkpoints" or (child / "manifest.json").is_file():
            continue
        if child.name in SAMPLE_FOLDERS:
            yield child
        else:
            yield from _sample_folders(child)


def run_images(run_dir: Path, limit: int) -> list[Path]:
    """The images a run provides (the convention of the module docstring), at most ``limit``."""
    found = _images_in(run_dir)
    for folder in _sample_folders(run_dir):
        found += [p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix.lower() in IMAGE_TYPES]
    return list(dict.fromkeys(found))[:max(0, limit)]


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Nested mappings as ``{"a.b.c": text}``; lists as compact JSON, ``None`` left out."""
    if isinstance(value, Mapping):
        flat: dict[str, str] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if value is None:
        return {}
    if isinstance(value, float):
        return {prefix: f"{value:.6g}"}
    if isinstance(value, (list, tuple)):
        return {prefix: json.dumps(value, default=str)}
    return {prefix: str(value)}


def manifest_facts(manifest: Mapping[str, Any]) -> dict[str, str]:
    """The facts of a run's manifest shown on the page (:data:`FACT_KEYS`, flattened)."""
    return flatten({key: manifest.get(key) for key in FACT_KEYS})


def split_facts(facts: Mapping[str, Mapping[str, str]]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """``(shared, own)``: facts with the same value in every run, and per run the others
    (a fact a run lacks counts as differing)."""
    keys = list(dict.fromkeys(k for run in facts.values() for k in run))
    shared = {k: next(iter(facts.values()))[k] for k in keys
              if len(facts) > 1 and all(k in run for run in facts.values())
              and len({run[k] for run in facts.values()}) == 1}
    own = {name: {k: v for k, v in run.items() if k not in shared} for name, run in facts.items()}
    return shared, own


# Figures -----------------------------------------------------------------------------------

def _steps_per_epoch(history: Sequence[Mapping[str, Any]]) -> int:
    first = history[0]
    return max(1, round(int(first.get("step") or 0) / (int(first.get("epoch") or 0) + 1)))


def simulated_schedule(manifest: Mapping[str, Any]) -> pd.DataFrame:
    """The LR of every optimizer step of a run's planned length, from its config.

    Steps per epoch are those the run counted (``step`` of its first history entry), epochs
    ``trainer.max_epochs`` (the epochs run when unset), capped by ``trainer.max_steps``.

    Returns:
        :func:`~trainlab.engine.schedule_preview.simulate_schedule`'s frame: ``step``,
        ``epoch`` (fractional, 0-based) and one LR column per parameter group.

    Raises:
        ValueError: the run has no history or no optimizer config.
        ConfigError: as :func:`~trainlab.engine.optim.build_scheduler`.
    """
    from trainlab.engine.optim import RunLength
    from trainlab.engine.schedule_preview import simulate_schedule

    history, config = manifest.get("history") or [], manifest.get("config") or {}
    if not history or not config.get("optimizer"):
        raise ValueError("no history or no optimizer config in the manifest")
    per_epoch = _steps_per_epoch(history)
    trainer = config.get("trainer") or {}
    max_epochs = int(trainer.get("max_epochs") or -1)
    max_epochs = max_epochs if max_epochs > 0 else len(history)
    total = per_epoch * max_epochs
    if int(trainer.get("max_steps") or -1) > 0:
        total = min(total, int(trainer["max_steps"]))
    return simulate_schedule(config["optimizer"], config.get("scheduler"),
                             RunLength(steps_per_epoch=per_epoch, max_epochs=max_epochs, total_steps=total))


def lr_schedule_figure(manifests: Mapping[str, Mapping[str, Any]]) -> tuple[str | None, list[str]]:
    """The LR schedules figure (data URI, or ``None`` without any LR to draw) and notes on
    runs whose schedule could not be simulated.

    x: epoch (1-based: epoch k covers [k, k + 1)); y: learning rate (log scale when it spans
    a factor of 100 or more). Lines: the simulated LR of each step, one per run and distinct
    parameter-group curve; dots: the LR each epoch trained with.
    """
    figure, axis = plt.subplots(figsize=(10, 4.5), constrained_layout=True)
    notes, values = [], []
    for index, (name, manifest) in enumerate(manifests.items()):
        color = f"C{index % 10}"
        history = manifest.get("history") or []
        if not history:
            continue
        try:
            frame = simulated_schedule(manifest)
        except Exception as error:  # a user's scheduler the simulation cannot build: keep the recorded LRs
            notes.append(f"{name}: schedule not simulated ({error})")
            frame = None
        if frame is not None:
            curves: dict[str, str] = {}
            for group in [c for c in frame.columns if c not in ("step", "epoch")]:
                twin = next((g for g in curves if frame[g].equals(frame[group])), None)
                curves[twin or group] = f"{curves[twin]}, {group}" if twin else group
            for style, (group, label) in zip(("-", "--", ":", "-."), curves.items()):
                axis.plot(frame["epoch"] + 1, frame[group], style, color=color, lw=1.4, label=f"{name}: {label}")
                values += frame[group].tolist()
        for h in history:
            for lr in (h.get("lr") or {}).values():
                axis.plot(h["epoch"] + 1, lr, "o", color=color, ms=4)
                values.append(lr)
    if not values:
        plt.close(figure)
        return None, notes
    positive = [v for v in values if v > 0]
    if positive and max(positive) / min(positive) >= 100:
        axis.set_yscale("log")
    axis.set_xlabel("epoch (lines: LR of every optimizer step as configured; dots: LR each epoch trained with)")
    axis.set_ylabel("learning rate")
    axis.grid(alpha=0.3)
    handles, labels = axis.get_legend_handles_labels()
    if labels:
        axis.legend(handles[:12], labels[:12], fontsize=7, loc="best")
    axis.set_title(f"learning-rate schedules of {len(manifests)} runs")
    return figure_uri(figure), notes


# Tables --------------------------------------------------------------------------------

def _number(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def metric_columns(runs: pd.DataFrame, metric: str | None) -> list[str]:
    """Metric columns of the runs table: every final metric (``val/...``, ``test/...``), then
    the best value of the judged metric over epochs and the last training loss."""
    final = [c for c in runs.columns if "/" in c and not c.startswith(("best/", "last/", "mlflow/"))]
    extra = [c for c in (f"best/{metric}" if metric else "", "last/train/loss") if c in runs.columns]
    return final + extra


def shared_overrides(run_dirs: Sequence[Path]) -> list[str]:
    """The command-line overrides (``.hydra/overrides.yaml``, as written) that every run has."""
    lists = []
    for run_dir in run_dirs:
        path = run_dir / ".hydra" / "overrides.yaml"
        lists.append([str(o) for o in (yaml.safe_load(path.read_text(encoding="utf-8")) or [])] if path.is_file() else [])
    return [o for o in lists[0] if all(o in other for other in lists[1:])] if lists else []


def runs_table(runs: pd.DataFrame, metric: str | None) -> dict[str, Any]:
    """The runs table: ``header``, ``rows`` (cell strings, status, error), ``parameters`` (how
    many cells after ``run`` and ``status`` are swept parameters) and ``shared`` (the overrides
    every run has, shown once)."""
    swept = [c for c in swept_parameters(runs) if c != "seed"]
    shared = shared_overrides([Path(p) for p in runs["run_dir"]])
    columns = ["run", "status", *swept, "seed", "epochs", "best_epoch", "wall (min)", "params (M)"]
    metrics = metric_columns(runs, metric)
    rows = []
    for _, run in runs.iterrows():
        cells = [str(run["run"]), str(run["status"]), *("" if pd.isna(run[c]) else str(run[c]) for c in swept)]
        cells += ["" if pd.isna(run.get(c)) else str(int(run[c])) for c in ("seed", "epochs", "best_epoch")]
        cells += [_number(run["wall_seconds"] / 60, 1) if pd.notna(run.get("wall_seconds")) else "",
                  _number(run["params"] / 1e6, 2) if pd.notna(run.get("params")) else ""]
        rows.append({"cells": cells + [_number(run.get(m)) for m in metrics], "status": str(run["status"]),
                     "error": str(run["error"]) if pd.notna(run.get("error")) and run.get("error") else ""})
    return {"header": columns + metrics, "rows": rows, "parameters": len(swept), "shared": shared}


def ablation_section(runs: pd.DataFrame, metric: str | None) -> dict[str, Any]:
    """The ablation table (header, rows, best flags), its note, and the metric-vs-parameters figure."""
    if metric is None:
        return {"note": "the runs declare no common optimized metric; choose one with --metric"}
    try:
        table = ablation_table(runs, metric)
    except (KeyError, ValueError) as error:
        return {"note": str(error.args[0] if error.args else error)}
    shown = display_table(table, metric)
    included = runs[(runs["status"] == "finished") & runs[metric].notna()]
    swept = [c for c in swept_parameters(included) if c != "seed"]
    figure = None
    if swept:
        figure = _written_png(lambda path: plot_metric_vs_parameters(included, metric, swept, path))
    seeds = "several seeds per group" if int(table["runs"].max()) > 1 else "one run per group (no std)"
    return {
        "header": list(shown.columns), "rows": [list(row) for row in shown.itertuples(index=False)],
        "best": list(table["best"]), "figure": figure,
        "note": f"{len(included)} finished runs grouped by {', '.join(swept) or 'run'}; {metric}: mean ± sample std "
                f"over each group's runs ({seeds}); best first, in bold",
    }


# The page ------------------------------------------------------------------------------

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1400px;
       padding: 0 16px; color: #1b1f24; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 15px; }
.sub { color: #57606a; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.wide { overflow-x: auto; }
tr.best td { font-weight: 700; }
.status-finished { color: #1a7f37; } .status-failed { color: #cf222e; } .status-interrupted { color: #9a6700; }
.status-pruned { color: #6e7781; } .status-running { color: #0969da; }
.error { color: #cf222e; font-size: 12px; white-space: pre-wrap; }
img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
figure { margin: 12px 0; } figcaption { color: #57606a; font-size: 12px; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px; } .gallery figure { max-width: 48%; }
details { margin: 8px 0; border: 1px solid #d0d7de; border-radius: 6px; padding: 6px 10px; }
summary { cursor: pointer; font-weight: 600; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; font-size: 12px; }
.note { color: #57606a; font-style: italic; }
</style>
</head>
<body>
{% macro gallery(images) %}<div class="gallery">{% for image in images %}<figure><img src="{{ image.uri }}" alt="{{ image.name }}"><figcaption>{{ image.name }}</figcaption></figure>{% endfor %}</div>{% endmacro %}
<h1>{{ title }}</h1>
<p class="sub">{{ root }} &middot; {{ counts }} &middot; generated {{ generated }}</p>
<p>Task: <b>{{ task or "?" }}</b>; runs judged by <b>{{ metric or "?" }}</b>{% if direction %} ({{ direction }}){% endif %}.</p>

<h2 id="runs">Runs</h2>
{% if runs.shared %}<p>Overrides of every run: <code>{{ runs.shared|join(" ") }}</code></p>{% endif %}
<div class="wide"><table id="runs-table">
<tr>{% for h in runs.header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in runs.rows %}<tr>{% for c in row.cells %}{% if loop.index0 == 1 %}<td class="status-{{ row.status }}">{{ c }}{% if row.error %}<div class="error">{{ row.error }}</div>{% endif %}</td>{% elif loop.index0 >= 2 + runs.parameters %}<td class="num">{{ c }}</td>{% else %}<td>{{ c }}</td>{% endif %}{% endfor %}</tr>
{% endfor %}</table></div>

<h2 id="ablation">Ablation</h2>
{% if ablation.header %}<div class="wide"><table id="ablation-table">
<tr>{% for h in ablation.header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in ablation.rows %}<tr{% if ablation.best[loop.index0] %} class="best"{% endif %}>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>
{% endfor %}</table></div>{% endif %}
<p class="note">{{ ablation.note }}</p>
{% if ablation.figure %}<figure><img src="{{ ablation.figure }}" alt="metric against the swept parameters"><figcaption>{{ metric }} against each swept parameter (dots: runs; line: mean)</figcaption></figure>{% endif %}

<h2 id="curves">Training curves</h2>
{% if curves %}<figure><img src="{{ curves }}" alt="training curves"><figcaption>per epoch, every run with a history</figcaption></figure>
{% else %}<p class="note">no run has a per-epoch history yet</p>{% endif %}

<h2 id="lr">Learning-rate schedules</h2>
{% if lr.figure %}<figure><img src="{{ lr.figure }}" alt="learning-rate schedules"><figcaption>lines: the LR of every optimizer step as the run's optimizer and scheduler config give it over its planned length; dots: the LR each epoch trained with (manifest history)</figcaption></figure>{% else %}<p class="note">no learning rate recorded</p>{% endif %}
{% for note in lr.notes %}<p class="note">{{ note }}</p>{% endfor %}

{% if folder_images %}<h2 id="folder">Images of the folder</h2>
{{ gallery(folder_images) }}{% endif %}
{% for note in folder_notes %}<p class="note">{{ note }}</p>{% endfor %}

<h2 id="facts">Manifest facts</h2>
{% if shared %}<h3>Shared by all {{ run_sections|length }} runs</h3>
<div class="wide"><table id="shared-facts">{% for k, v in shared.items() %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table></div>{% endif %}

<h2 id="per-run">Runs one by one</h2>
{% for run in run_sections %}<details{% if run_sections|length <= OPEN_RUNS %} open{% endif %} id="run-{{ loop.index }}">
<summary><span class="status-{{ run.status }}">{{ run.status }}</span> {{ run.name }}</summary>
{% if run.facts %}<div class="wide"><table class="facts">{% for k, v in run.facts.items() %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table></div>{% endif %}
{% for note in run.notes %}<p class="note">{{ note }}</p>{% endfor %}
{{ gallery(run.images) }}
{% if run.config %}<details><summary>resolved config</summary><pre>{{ run.config }}</pre></details>{% endif %}
</details>
{% endfor %}
</body>
</html>
"""


def _embedded(paths: Sequence[Path], base: Path, notes: list[str]) -> list[dict[str, str]]:
    images = []
    for path in paths:
        try:
            images.append({"name": str(path.relative_to(base)), "uri": image_uri(path)})
        except (OSError, ValueError) as error:
            notes.append(f"{path.relative_to(base)}: not embedded ({error})")
    return images


def build_report(root: str | os.PathLike, *, metric: str | None = None, samples: int = 8,
                 title: str | None = None) -> str:
    """The HTML page for every run below ``root`` (see the module docstring).

    Args:
        root: A run folder, a sweep folder, a search folder or any folder of runs.
        metric: Column the ablation table compares (default: the runs' ``optimized_metric``).
        samples: Most images embedded per run.
        title: Page title (default: ``trainlab report: <folder name>``).

    Returns:
        The page, UTF-8 text with every image inline.

    Raises:
        FileNotFoundError: ``root`` is not a folder or holds no run.
        ValueError: an unreadable manifest or overrides file (names it).
    """
    import jinja2

    root = Path(root)
    runs = collect(root)
    optimized, direction = optimized_of(runs)
    metric = metric or optimized
    manifests = {str(run["run"]): json.loads((Path(run["run_dir"]) / "manifest.json").read_text(encoding="utf-8"))
                 for _, run in runs.iterrows()}
    with_history = runs[runs["epochs"] > 0]
    curves = None
    if len(with_history):
        history_metric = metric.split("/", 1)[1] if metric and metric.startswith(("best/", "last/")) else metric
        plotted = list(dict.fromkeys(m for m in ("train/loss", history_metric) if m))
        labels = swept_parameters(with_history) or []
        curves = _written_png(lambda path: plot_training_curves(with_history, path, labels, metrics=plotted))
    lr_figure, lr_notes = lr_schedule_figure(manifests)
    shared, own = split_facts({name: manifest_facts(m) for name, m in manifests.items()})
    sections = []
    for _, run in runs.iterrows():
        name, run_dir = str(run["run"]), Path(run["run_dir"])
        notes: list[str] = []
        config = manifests[name].get("config")
        sections.append({
            "name": name, "status": str(run["status"]), "facts": own[name], "notes": notes,
            "images": _embedded(run_images(run_dir, samples), run_dir, notes),
            "config": yaml.safe_dump(config, sort_keys=False, allow_unicode=True) if config else "",
        })
    folder_notes: list[str] = []
    folder_images = [] if (root / "manifest.json").is_file() else _embedded(_images_in(root), root, folder_notes)
    counts = runs["status"].value_counts()
    ordered = sorted(counts.items(), key=lambda kv: STATUS_ORDER.index(kv[0]) if kv[0] in STATUS_ORDER else 99)
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return environment.from_string(TEMPLATE).render(
        title=title or f"trainlab report: {root.resolve().name}", root=str(root.resolve()),
        counts=f"{len(runs)} run{'s' if len(runs) != 1 else ''} (" + ", ".join(f"{n} {s}" for s, n in ordered) + ")",
        generated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        task=", ".join(sorted(runs["task"].dropna().astype(str).unique())), metric=metric, direction=direction,
        runs=runs_table(runs, metric), ablation=ablation_section(runs, metric), curves=curves,
        lr={"figure": lr_figure, "notes": lr_notes}, folder_images=folder_images, folder_notes=folder_notes,
        shared=shared, run_sections=sections, OPEN_RUNS=OPEN_RUNS,
    )


def write_report(root: str | os.PathLike, output: str | os.PathLike, **options: Any) -> Path:
    """Build the page (:func:`build_report` options and errors) and write it atomically to ``output``."""
    return atomic_write_text(output, build_report(root, **options))
