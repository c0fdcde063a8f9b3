"""Comparison tables from collected runs: ``trainlab ablate results.csv --metric val/hmean``.

Runs (rows of ``trainlab collect``) that finished are grouped by the swept parameters (the
override columns whose value varies, the replicate columns ``seed`` and ``data.fold``
excepted; or ``--group-by``); each group shows the metric's mean ± sample standard deviation
over its runs (over seeds or folds, when several ran), its run count, seeds and folds, and
companion columns (the test counterpart of a ``val/`` metric, epochs, wall time, parameter count). Groups are sorted best first and the best row is
highlighted: bold in Markdown and LaTeX, ``best = True`` in CSV.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from trainlab.workflow.collect import metric_direction, parameter_columns

FORMATS = ("md", "csv", "latex")
#: Columns that repeat a configuration rather than change it: a group's runs differ in them.
REPLICATE_COLUMNS = ("seed", "data.fold")


def optimized_of(runs: pd.DataFrame) -> tuple[str | None, str | None]:
    """``(optimized metric, direction)`` the collected runs share, or ``(None, None)`` when they
    declare none or disagree."""
    if "optimized_metric" not in runs.columns:
        return None, None
    pairs = runs[["optimized_metric", "optimized_direction"]].dropna().drop_duplicates()
    if len(pairs) != 1:
        return None, None
    metric, direction = pairs.iloc[0]
    return str(metric), str(direction)


def default_direction(metric: str, runs: pd.DataFrame | None = None) -> str:
    """``max`` or ``min`` for ``metric``: the runs' declared direction for their optimized metric,
    else by its words (:func:`~trainlab.workflow.collect.metric_direction`)."""
    optimized, direction = optimized_of(runs) if runs is not None else (None, None)
    return metric_direction(metric, optimized, direction)


def swept_parameters(runs: pd.DataFrame) -> list[str]:
    """Override columns whose value differs between runs (missing values count as a value)."""
    return [c for c in parameter_columns(runs) if runs[c].astype(str).nunique(dropna=False) > 1]


def companion_metrics(runs: pd.DataFrame, metric: str) -> list[str]:
    """Columns shown beside ``metric``: its ``test/`` counterpart for a ``val/`` metric, if collected."""
    if metric.startswith("val/") and f"test/{metric[4:]}" in runs.columns:
        return [f"test/{metric[4:]}"]
    return []


def ablation_table(runs: pd.DataFrame, metric: str, group_by: Sequence[str] | None = None,
                   direction: str | None = None, statuses: Sequence[str] = ("finished",)) -> pd.DataFrame:
    """Aggregate runs into one row per group, sorted best first.

    Args:
        runs: The table of ``trainlab collect`` (one row per run).
        metric: Column to compare (e.g. ``val/hmean``, ``best/val/hmean``, ``last/train/loss``).
        group_by: Columns that define a group; default :func:`swept_parameters` without the
            replicate columns (``seed``, ``data.fold``), or ``exp_name`` when nothing else varies
            (every run its own group when nothing else varies).
        direction: ``max`` or ``min`` (default :func:`default_direction`).
        statuses: Run statuses included (default: finished runs only).

    Returns:
        One row per group: the group columns, then for ``metric`` and each companion metric
        ``<m> mean``, ``<m> std`` (NaN for a single run), then ``runs`` (count), ``seeds``,
        ``epochs`` (mean), ``wall_seconds`` (mean), ``params``, ``best`` (True on the first row).

    Raises:
        KeyError: ``metric`` or a ``group_by`` column is not in the table (the message lists
            the available ones).
        ValueError: bad ``direction``, or no run with the given statuses has the metric.
    """
    if metric not in runs.columns:
        available = [c for c in runs.columns if "/" in c]
        raise KeyError(f"metric {metric!r} is not a column of the results; metric columns: {', '.join(available)}")
    direction = direction or default_direction(metric, runs)
    if direction not in ("max", "min"):
        raise ValueError(f"direction must be 'max' or 'min', got {direction!r}")
    selected = runs[runs["status"].isin(statuses) & runs[metric].notna()].copy()
    if selected.empty:
        counts = runs["status"].value_counts().to_dict()
        raise ValueError(f"no run with status in {list(statuses)} has {metric!r} (statuses: {counts})")
    if group_by is None:
        group_by = [c for c in swept_parameters(selected) if c not in REPLICATE_COLUMNS]
        group_by = group_by or (["exp_name"] if "exp_name" in selected.columns else ["run"])
    missing = [c for c in group_by if c not in selected.columns]
    if missing:
        raise KeyError(f"--group-by {', '.join(missing)}: not a column; parameter columns: "
                       f"{', '.join(parameter_columns(runs)) or 'none'}")
    group_by = list(group_by)
    keys = selected[group_by].astype(object).where(selected[group_by].notna(), "null")
    metrics = [metric, *companion_metrics(selected, metric)]
    rows = []
    for values, group in selected.groupby([keys[c] for c in group_by], sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        row = dict(zip(group_by, values))
        for name in metrics:
            row[f"{name} mean"] = group[name].mean()
            row[f"{name} std"] = group[name].std(ddof=1) if group[name].count() > 1 else math.nan
        row["runs"] = len(group)
        row["seeds"] = " ".join(str(s) for s in sorted(group["seed"].dropna().unique())) if "seed" in group else ""
        if "data.fold" in group:
            row["folds"] = " ".join(str(int(f)) for f in sorted(group["data.fold"].dropna().unique()))
        row["epochs"] = group["epochs"].mean()
        row["wall_seconds"] = group["wall_seconds"].mean()
        row["params"] = group["params"].iloc[0]
        rows.append(row)
    table = pd.DataFrame(rows).sort_values(f"{metric} mean", ascending=direction == "min", kind="stable")
    table = table.reset_index(drop=True)
    table["best"] = table.index == 0
    return table


def _number(value: float, digits: int = 4) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def display_table(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Strings for people: ``mean ± std`` cells, minutes of wall time, millions of parameters."""
    shown = pd.DataFrame(index=table.index)
    for column in table.columns:
        if column.endswith(" mean"):
            name = column[: -len(" mean")]
            std = table[f"{name} std"]
            shown[name] = [_number(m) + (f" ± {_number(s)}" if not math.isnan(s) else "")
                           for m, s in zip(table[column], std)]
        elif column.endswith(" std") or column == "best":
            continue
        elif column == "wall_seconds":
            shown["wall (min)"] = [_number(v / 60, 1) for v in table[column]]
        elif column == "params":
            shown["params (M)"] = [_number(v / 1e6, 2) for v in table[column]]
        elif column == "epochs":
            shown["epochs"] = [_number(v, 1).removesuffix(".0") for v in table[column]]
        else:
            shown[column] = table[column].astype(str)
    return shown


def to_markdown(table: pd.DataFrame, metric: str) -> str:
    """GitHub Markdown table of :func:`display_table`, the best row in bold (``|`` escaped in cells)."""
    shown = display_table(table, metric)
    def cell(text: str, bold: bool) -> str:
        text = str(text).replace("|", "\\|")
        return f"**{text}**" if bold and text else text
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + "|".join("---" for _ in shown.columns) + "|"]
    for index, row in shown.iterrows():
        lines.append("| " + " | ".join(cell(v, bool(table.loc[index, "best"])) for v in row) + " |")
    return "\n".join(lines) + "\n"


def to_latex(table: pd.DataFrame, metric: str) -> str:
    """LaTeX ``tabular`` of :func:`display_table` (pandas Styler), the best row in ``\\textbf``."""
    shown = display_table(table, metric)
    styler = shown.style.hide(axis="index").apply(
        lambda row: ["textbf:--rwrap" if table.loc[row.name, "best"] else "" for _ in row], axis=1)
    return styler.format(escape="latex").to_latex(hrules=True).replace("±", r"$\pm$")


def render(table: pd.DataFrame, metric: str, fmt: str) -> str:
    """The table as ``md``, ``csv`` (raw numbers, mean and std columns) or ``latex`` text.

    Raises:
        ValueError: unknown format.
    """
    if fmt == "md":
        return to_markdown(table, metric)
    if fmt == "latex":
        return to_latex(table, metric)
    if fmt == "csv":
        return table.to_csv(index=False)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
