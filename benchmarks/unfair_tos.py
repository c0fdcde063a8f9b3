"""Unfair-clause classification on the CLAUDETTE corpus: the 5-fold table, CPU time, lengths, 512 vs 128 tokens.

Three sub-commands:

- ``train``: trains ``experiment=unfair_tos_minilm`` on each fold, one process per fold
  (``--jobs`` at a time, one torch thread each), into ``<runs>/fold_<k>/``, and records each
  fold's CPU time (user + system of the process and its children, from ``os.wait4``) in
  ``<runs>/fold_<k>/cpu.json``. Extra arguments after ``--`` are passed to ``trainlab train``.
- ``table``: reads the fold runs' manifests (test figures at the thresholds chosen on
  validation), trains the TF-IDF + linear SVM baseline on exactly the same train/val/test
  documents (from each run's data fingerprint), and prints the mean +- std table over folds
  (micro/macro-F1 in the LexGLUE convention, binary unfair F1, per-class F1, CPU minutes)
  as Markdown; ``--output`` writes it too.
- ``lengths``: the sentence-length distribution in tokens (the encoder's tokenizer, special
  tokens included) and the CPU cost of a training step at 512 vs 128 tokens, measured on a
  few batches of the longest sentences (one thread, median of ``--repeats``).

Usage:
    python benchmarks/unfair_tos.py train --runs outputs/unfair_tos_minilm/folds [--jobs 2] [--folds 0 1 2 3 4] [-- key=value ...]
    python benchmarks/unfair_tos.py table --runs outputs/unfair_tos_minilm/folds [--output FILE]
    python benchmarks/unfair_tos.py lengths [--root ../shared/data/unfair_tos] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = Path(os.environ.get("TRAINLAB_DATA_DIR", REPO.parent / "shared" / "data")) / "unfair_tos"


def train_folds(runs: Path, folds: list[int], jobs: int, extra: list[str]) -> None:
    """Run one ``trainlab train`` process per fold, ``jobs`` at a time; write each fold's CPU time."""
    from trainlab.engine.io import atomic_write_json

    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    pending, running = list(folds), {}
    while pending or running:
        while pending and len(running) < jobs:
            fold = pending.pop(0)
            folder = runs / f"fold_{fold}"
            folder.mkdir(parents=True, exist_ok=True)
            command = [sys.executable, "-m", "trainlab", "train", "experiment=unfair_tos_minilm", f"data.fold={fold}",
                       f"hydra.run.dir={folder}", "~callbacks.rich_progress_bar", *extra]
            log = open(folder / "stdout.log", "w")
            process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
            running[process.pid] = (fold, folder, time.time(), log, command)
            print(f"fold {fold}: started (pid {process.pid})", flush=True)
        pid, status, usage = os.wait4(-1, 0)
        if pid not in running:
            continue
        fold, folder, started, log, command = running.pop(pid)
        log.close()
        record = {"fold": fold, "exit_status": os.waitstatus_to_exitcode(status), "wall_seconds": time.time() - started,
                  "cpu_seconds": usage.ru_utime + usage.ru_stime, "user_seconds": usage.ru_utime,
                  "system_seconds": usage.ru_stime, "max_rss_mb": usage.ru_maxrss / 1024, "torch_threads": 1,
                  "command": " ".join(command)}
        atomic_write_json(folder / "cpu.json", record)
        print(f"fold {fold}: exit {record['exit_status']}, {record['cpu_seconds'] / 60:.1f} CPU-min, "
              f"{record['wall_seconds'] / 60:.1f} min wall", flush=True)


def _mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * std:.1f}"


def read_runs(runs: list[Path]) -> dict[int, dict]:
    """Finished fold runs under ``runs``: fold -> {"manifest", "cpu"} (the last one per fold)."""
    found = {}
    for root in runs:
        for manifest_path in sorted(root.glob("**/manifest.json")):
            manifest = json.loads(manifest_path.read_text())
            if manifest.get("status") != "finished":
                continue
            cpu_path = manifest_path.parent / "cpu.json"
            cpu = json.loads(cpu_path.read_text()) if cpu_path.is_file() else {}
            found[int(manifest["data"]["fold"])] = {"manifest": manifest, "cpu": cpu, "path": manifest_path.parent}
    return found


def baseline_fold(root: Path, fold: int, labels: str, val_documents, seed: int) -> dict:
    """The TF-IDF + SVM baseline on one fold (same documents as the network's run)."""
    from trainlab.tasks.unfair_tos.baseline import evaluate_baseline
    from trainlab.tasks.unfair_tos.corpus import LabelSet, read_fold, read_unfair_tags, split_sentences

    label_set = LabelSet(labels, read_unfair_tags(root))
    fold_docs = read_fold(root, fold, val_documents, seed)
    splits = {split: ([s.text for s in sentences], np.array([label_set.encode(s) for s in sentences]))
              for split, sentences in split_sentences(root, fold_docs).items()}
    return {**evaluate_baseline(splits, label_set.names), "documents": fold_docs.as_dict(), "names": label_set.names}


def table(runs: list[Path], root: Path, output: Path | None) -> str:
    """The Markdown tables of the fold runs and the baseline (see the module docstring)."""
    from trainlab.tasks.unfair_tos.corpus import LabelSet

    found = read_runs(runs)
    if found:
        config = next(iter(found.values()))["manifest"]["config"]["data"]
        val_documents, seed, labels = config["val_documents"], int(config["seed"]), config["labels"]
    else:
        val_documents, seed, labels = 4, 42, "lexglue"
    names = LabelSet(labels).names
    baseline = {}
    for fold in range(5):
        baseline[fold] = baseline_fold(root, fold, labels, val_documents, seed)
        if fold in found:
            assert baseline[fold]["documents"] == found[fold]["manifest"]["data"]["documents"], f"fold {fold}: documents differ"
    binary = {fold: baseline_fold(root, fold, "binary", val_documents, seed) for fold in range(5)}
    net_folds = sorted(found)
    lines = [f"Label set: {labels} ({len(names)} categories + the implicit fair class); test figures at per-class "
             "thresholds chosen on each fold's validation documents; mean ± std over folds, in %.", "",
             "| model | folds | micro-F1 | macro-F1 | binary unfair F1 | CPU-min per fold |", "|---|---|---|---|---|---|"]

    def row(name: str, reports: list[dict], folds: list[int], cpu: list[float]) -> str:
        cpu_text = f"{statistics.mean(cpu):.1f} (max {max(cpu):.1f})" if cpu else "-"
        return (f"| {name} | {','.join(map(str, folds))} | {_mean_std([r['micro_f1'] for r in reports])} | "
                f"{_mean_std([r['macro_f1'] for r in reports])} | {_mean_std([r['binary_f1'] for r in reports])} | {cpu_text} |")

    net_reports = [{k.removeprefix("test/"): v for k, v in found[f]["manifest"]["final"].items()} for f in net_folds]
    net_cpu = [found[f]["cpu"]["cpu_seconds"] / 60 for f in net_folds if found[f]["cpu"]]
    lines.append(row("MiniLM-L6 fine-tuned (experiment=unfair_tos_minilm)", net_reports, net_folds, net_cpu))
    if net_folds:
        lines.append(row("TF-IDF + linear SVM, the same folds", [baseline[f]["test"] for f in net_folds], net_folds,
                         [baseline[f]["cpu_seconds"] / 60 for f in net_folds]))
    lines.append(row("TF-IDF + linear SVM, all folds", [baseline[f]["test"] for f in range(5)], list(range(5)),
                     [baseline[f]["cpu_seconds"] / 60 for f in range(5)]))
    lines.append(row("TF-IDF + linear SVM, all folds, margin 0 (no tuning)", [baseline[f]["test_default"] for f in range(5)],
                     list(range(5)), []))
    lines.append(row("TF-IDF + linear SVM, binary label set (corpus rule, pinc included)",
                     [binary[f]["test"] for f in range(5)], list(range(5)), [binary[f]["cpu_seconds"] / 60 for f in range(5)]))
    lines += ["", "Per-class F1 (test, mean ± std over the folds named above, in %):", "",
              "| class | MiniLM-L6 | TF-IDF + SVM (same folds) | TF-IDF + SVM (all folds) |", "|---|---|---|---|"]
    for name in [*names, "fair"]:
        lines.append(f"| {name} | {_mean_std([r[f'f1_{name}'] for r in net_reports])} | "
                     f"{_mean_std([baseline[f]['test'][f'f1_{name}'] for f in net_folds])} | "
                     f"{_mean_std([baseline[f]['test'][f'f1_{name}'] for f in range(5)])} |")
    if net_folds:
        lines += ["", "Per fold (macro-F1 %): " + ", ".join(
            f"fold {f}: MiniLM {100 * r['macro_f1']:.1f} / SVM {100 * baseline[f]['test']['macro_f1']:.1f}"
            for f, r in zip(net_folds, net_reports))]
    text = "\n".join(lines) + "\n"
    if output:
        from trainlab.engine.io import atomic_write_text

        atomic_write_text(output, text)
    return text


def lengths(root: Path, encoder: str, repeats: int, batch: int) -> str:
    """Sentence lengths in tokens and the measured CPU cost of a training step at 128 and 512 tokens."""
    import resource

    import torch

    from trainlab.tasks.unfair_tos.corpus import read_documents, read_name_list
    from trainlab.tasks.unfair_tos.encoder import load_tokenizer
    from trainlab.tasks.unfair_tos.module import UnfairTosModule

    torch.set_num_threads(1)
    tokenizer = load_tokenizer(encoder)
    sentences = read_documents(root, read_name_list(root / "lists" / "LIST_ALL.txt"))
    counts = np.array([len(ids) for ids in tokenizer([s.text for s in sentences])["input_ids"]])
    percentiles = {p: int(np.percentile(counts, p)) for p in (50, 90, 95, 99, 99.9)}
    lines = [f"Sentences: {len(counts)}; tokens per sentence (special tokens included): mean {counts.mean():.1f}, "
             + ", ".join(f"p{p} {v}" for p, v in percentiles.items()) + f", max {counts.max()}.",
             f"Longer than 128: {(counts > 128).sum()} ({100 * (counts > 128).mean():.2f} %); longer than 512: "
             f"{(counts > 512).sum()}.",
             f"Tokens over the corpus at a cap of 128: {np.minimum(counts, 128).sum()}; at 512: "
             f"{np.minimum(counts, 512).sum()} (x{np.minimum(counts, 512).sum() / np.minimum(counts, 128).sum():.3f} "
             "with dynamic padding).", ""]
    model = UnfairTosModule(labels="lexglue", encoder={"name": encoder}, optimizer={"name": "adamw", "lr": 1e-5})
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    longest = [sentences[i].text for i in np.argsort(-counts)[:batch]]

    def step_cost(cap: int, padding: str) -> float:
        encoded = tokenizer(longest, truncation=True, max_length=cap, padding=padding, return_tensors="pt")
        labels = torch.zeros(len(longest), len(model.names))
        times = []
        for _ in range(repeats):
            usage = resource.getrusage(resource.RUSAGE_SELF)
            start = usage.ru_utime + usage.ru_stime
            optimizer.zero_grad()
            model.loss(model(dict(encoded)), labels).backward()
            optimizer.step()
            usage = resource.getrusage(resource.RUSAGE_SELF)
            times.append(usage.ru_utime + usage.ru_stime - start)
        return statistics.median(times), encoded["input_ids"].shape[1]

    model.train()
    rows = []
    for cap, padding in ((128, "longest"), (512, "longest"), (128, "max_length"), (512, "max_length")):
        cost, width = step_cost(cap, padding)
        rows.append((cap, padding, width, cost))
    lines += [f"Training step (forward, backward, AdamW) on the {batch} longest sentences, 1 thread, median of "
              f"{repeats}, CPU seconds:", "", "| cap | padding | tokens per row | CPU s per step |", "|---|---|---|---|"]
    lines += [f"| {cap} | {padding} | {width} | {cost:.2f} |" for cap, padding, width, cost in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train")
    train.add_argument("--runs", type=Path, required=True)
    train.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    train.add_argument("--jobs", type=int, default=2)
    train.add_argument("extra", nargs="*")
    tab = sub.add_parser("table")
    tab.add_argument("--runs", type=Path, nargs="+", default=[])
    tab.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    tab.add_argument("--output", type=Path)
    length = sub.add_parser("lengths")
    length.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    length.add_argument("--encoder", default="all-MiniLM-L6-v2")
    length.add_argument("--repeats", type=int, default=2)
    length.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    if args.command == "train":
        train_folds(args.runs.resolve(), args.folds, args.jobs, args.extra)
    elif args.command == "table":
        print(table(args.runs, args.root, args.output), end="")
    else:
        print(lengths(args.root, args.encoder, args.repeats, args.batch), end="")


if __name__ == "__main__":
    main()
