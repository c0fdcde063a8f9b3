"""The reference receipt plan, measured: k folds, their ensemble, test-time augmentation and
checkpoint soups, each scored by ICDAR 2015 IoU H-mean and CLEval H-mean, plus the ensemble's latency.

Run the folds first (``trainlab kfold``, keeping one checkpoint per epoch for the soups)::

    trainlab kfold experiment=ppocr_det_sroie n_folds=5 "callbacks=[default,ema,epoch_checkpoints]"
    python benchmarks/text_detection_kfold.py <the kfold folder> [--tta identity hflip scale_0.9 scale_1.1]

``trainlab kfold`` has chosen the thresholds on the pooled out-of-fold predictions and written
them into every fold's best checkpoint; nothing here is chosen on test. The script then passes
over the test split once: every fold model runs on every test receipt under every transform of
``--tta`` (each map brought back to the receipt's geometry by the library's TTA code, one
transform at a time), and every row below is decoded from the mean of a subset of those maps:

- each fold alone (identity), their mean ± std;
- the ensemble of all folds (equal weights), the same maps ``trainlab eval ckpt_path=[...]``
  averages;
- fold 0 with the full TTA set, the ensemble with flips only, with scales only, with the full set;
- fold 0 with each of ``--single-extra`` (transforms outside the default set, e.g. ``vflip`` and
  ``rot90``, which receipts never show in training) beside identity;
- the soups of fold 0's epoch checkpoints, scored with ``trainlab eval``: a uniform soup of the
  last three epochs and a greedy soup (Wortsman et al. 2022) judged on fold 0's held-out fold,
  each with thresholds chosen on that held-out fold (``choose_on=val``);
- latency: seconds per test image of one fold model and of the ensemble of all folds, and their
  ratio against N times the single model's.

The per-fold and ensemble IoU figures must equal ``kfold_summary.json``'s (checked, printed).
Prints a Markdown table and writes ``benchmark.json`` into the k-fold folder.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path


def trainlab(*args: str, cwd: Path) -> str:
    """Run a trainlab command; its stdout (raises with stderr on failure)."""
    done = subprocess.run([sys.executable, "-m", "trainlab", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"trainlab {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def evaluate(checkpoints: list[str], out: Path, extra: list[str], cwd: Path) -> tuple[dict, float]:
    """``trainlab eval`` on test; (metrics.json, wall seconds of the whole command)."""
    spec = checkpoints[0] if len(checkpoints) == 1 else "[" + ",".join(checkpoints) + "]"
    start = time.perf_counter()
    trainlab("eval", f"ckpt_path={spec}", f"hydra.run.dir={out}", *extra, cwd=cwd)
    return json.loads((out / "metrics.json").read_text()), time.perf_counter() - start


def latency(checkpoints: list[str], images: int = 20, repeats: int = 3) -> dict:
    """Seconds per test image (score maps and decoding, in this process) of the first model alone
    and of the ensemble of all, median of ``repeats`` passes over ``images`` test images."""
    import hydra
    import torch

    from trainlab.engine.checkpoint import load_module

    models = [load_module(path).eval() for path in checkpoints]
    datamodule = hydra.utils.instantiate(models[0].run_record["data"], _convert_="all")
    datamodule.setup("test")
    dataset = datamodule.dataset("test")
    items = [dataset[i] for i in range(min(images, len(dataset)))]

    def per_image(model) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            with torch.no_grad():
                for item in items:
                    maps = model.predict_maps(item["image"][None])[0]
                    model.detect(maps, item["original_size"])
            times.append((time.perf_counter() - start) / len(items))
        return statistics.median(times)

    single = per_image(models[0])
    alone = [load_module(path).eval() for path in checkpoints]
    ensemble = per_image(type(alone[0]).ensemble(alone))
    return {"images": len(items), "threads": torch.get_num_threads(), "single_s_per_image": single,
            "ensemble_s_per_image": ensemble, "ratio_to_n_singles": ensemble / (len(checkpoints) * single)}


def row(name: str, metrics: dict) -> dict:
    return {"what": name, "hmean": metrics["hmean"], "precision": metrics["precision"], "recall": metrics["recall"],
            "cleval_hmean": metrics.get("cleval_hmean")}


def score(images: list[tuple]) -> dict:
    """ICDAR 2015 IoU and CLEval figures of ``(name, ground truth, detections)`` per image."""
    from trainlab.tasks.text_detection.metrics.cleval_metric import cleval_detection
    from trainlab.tasks.text_detection.metrics.icdar2015 import Icdar2015Accumulator

    accumulator = Icdar2015Accumulator()
    for name, truth, detected in images:
        accumulator.update(name, truth, detected)
    result = accumulator.compute().summary()
    cleval = cleval_detection(images)
    return {**result, **{f"cleval_{k}": cleval[k] for k in ("precision", "recall", "hmean")}}


def mean_maps(maps: list[dict]) -> dict:
    """Element-wise mean of score-map dicts of one image (same keys and shapes)."""
    return {key: sum(m[key] for m in maps) / len(maps) for key in maps[0]}


def cached_rows(checkpoints: list[str], transforms: list[str], single_extra: list[str]) -> tuple[list[dict], dict]:
    """One pass over the test split; every fold/ensemble/TTA row decoded from the cached maps."""
    import hydra

    from trainlab.engine.checkpoint import load_module

    models = [load_module(path).eval() for path in checkpoints]
    datamodule = hydra.utils.instantiate(models[0].run_record["data"], _convert_="all")
    datamodule.setup("test")
    dataset = datamodule.dataset("test")
    n = len(models)
    flips = [t for t in transforms if t in {"identity", "hflip", "vflip"}]
    scales = [t for t in transforms if t == "identity" or t.startswith("scale_")]
    variants: dict[str, list[tuple[int, str]]] = {f"fold {k}": [(k, "identity")] for k in range(n)}
    variants[f"ensemble of {n} folds"] = [(k, "identity") for k in range(n)]
    variants[f"fold 0 + TTA {transforms}"] = [(0, t) for t in transforms]
    for extra in single_extra:
        variants[f"fold 0 + TTA ['identity', '{extra}']"] = [(0, "identity"), (0, extra)]
    if len(flips) > 1:
        variants[f"ensemble + TTA {flips}"] = [(k, t) for k in range(n) for t in flips]
    if len(scales) > 1:
        variants[f"ensemble + TTA {scales}"] = [(k, t) for k in range(n) for t in scales]
    variants[f"ensemble + TTA {transforms}"] = [(k, t) for k in range(n) for t in transforms]
    needed = sorted({pair for pairs in variants.values() for pair in pairs})
    collected: dict[str, list[tuple]] = {name: [] for name in variants}
    start = time.perf_counter()
    for index in range(len(dataset)):
        item = dataset[index]
        image = item["image"][None]
        maps = {}
        for k, t in needed:
            models[k].configure_tta([t])
            maps[k, t] = models[k].predict_maps(image)[0]
        for name, pairs in variants.items():
            model = models[pairs[0][0]] if name.startswith("fold") else models[0]
            detections = model.detect(mean_maps([maps[p] for p in pairs]), item["original_size"])
            collected[name].append((item["name"], item["regions"], detections))
        if index % 10 == 0:
            print(f"  test image {index + 1}/{len(dataset)}, {time.perf_counter() - start:.0f} s", file=sys.stderr,
                  flush=True)
    rows = [row(name, score(images)) for name, images in collected.items()]
    info = {"images": len(dataset), "forward_passes_per_image": len(needed), "seconds": time.perf_counter() - start,
            "postprocess": models[0].postprocess_record()}
    return rows, info


def soup_rows(summary: dict, bench: Path) -> list[dict]:
    """Uniform soup of fold 0's last three epochs and a greedy soup of all its epochs, on test."""
    run = Path(summary["folds"][0]["checkpoint"]).parents[1]
    rows = []
    uniform = json.loads(trainlab("average", "--run", str(run), "--last", "3", "-o", str(bench / "uniform.ckpt"),
                                  cwd=Path.cwd()).strip().splitlines()[-1])
    metrics, _ = evaluate([str(bench / "uniform.ckpt")], bench / "uniform", ["choose_on=val"], Path.cwd())
    rows.append({**row("uniform soup of fold 0's last 3 epochs", metrics), "soup": uniform,
                 "postprocess": metrics.get("postprocess")})
    greedy = json.loads(trainlab("average", "--greedy", "--run", str(run), "-o", str(bench / "greedy.ckpt"),
                                 cwd=Path.cwd()).strip().splitlines()[-1])
    metrics, _ = evaluate([str(bench / "greedy.ckpt")], bench / "greedy", ["choose_on=val"], Path.cwd())
    rows.append({**row(f"greedy soup of fold 0's epochs ({len(greedy['ingredients'])} of {len(greedy['steps'])} kept)",
                       metrics), "soup": greedy, "postprocess": metrics.get("postprocess")})
    return rows


def fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (tuple, list)):
        return f"{value[0]:.4f} ± {value[1]:.4f}"
    return f"{value:.4f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kfold_dir", type=Path)
    parser.add_argument("--tta", nargs="+", default=["identity", "hflip", "scale_0.9", "scale_1.1"])
    parser.add_argument("--single-extra", nargs="*", default=["vflip", "rot90"],
                        help="transforms tried with fold 0 alone, each beside identity")
    parser.add_argument("--skip-soup", action="store_true")
    parser.add_argument("--latency-images", type=int, default=10)
    args = parser.parse_args()
    folder = args.kfold_dir.resolve()
    summary = json.loads((folder / "kfold_summary.json").read_text())
    checkpoints = [f["checkpoint"] for f in summary["folds"]]
    bench = folder / "benchmark"
    bench.mkdir(exist_ok=True)
    cache = bench / "cached_rows.json"
    key = {"checkpoints": checkpoints, "tta": list(args.tta), "single_extra": list(args.single_extra)}
    cached = json.loads(cache.read_text()) if cache.is_file() else {}
    if cached.get("key") == key:  # the test pass of an earlier, interrupted call
        rows, info = cached["rows"], cached["info"]
    else:
        rows, info = cached_rows(checkpoints, list(args.tta), list(args.single_extra))
        cache.write_text(json.dumps({"key": key, "rows": rows, "info": info}, indent=2, default=str))
    folds = [r for r in rows if r["what"].startswith("fold ") and "TTA" not in r["what"]]
    spread = {"what": f"mean ± std of {len(folds)} folds"}
    for key in ("hmean", "precision", "recall", "cleval_hmean"):
        values = [r[key] for r in folds]
        spread[key] = (statistics.fmean(values), statistics.stdev(values))
    rows.insert(len(folds), spread)
    checks = {}
    for fold, r in zip(summary["folds"], folds):
        checks[r["what"]] = (r["hmean"], (fold.get("test_out_of_fold_choice") or {}).get("test/hmean"))
    if "ensemble" in summary:
        checks["ensemble"] = (next(r["hmean"] for r in rows if r["what"].startswith("ensemble of")),
                              summary["ensemble"]["test"].get("test/hmean"))
    if not args.skip_soup:
        rows += soup_rows(summary, bench)
    speed = latency(checkpoints, images=args.latency_images)
    result = {"rows": rows, "pass": info, "latency": speed, "tta": args.tta,
              "out_of_fold_choice": summary.get("out_of_fold_choice"), "checks_against_kfold_summary": checks}
    (folder / "benchmark.json").write_text(json.dumps(result, indent=2, default=str))
    print("| what | IoU H-mean | precision | recall | CLEval H-mean |\n|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['what']} | {fmt(r.get('hmean'))} | {fmt(r.get('precision'))} | {fmt(r.get('recall'))} | "
              f"{fmt(r.get('cleval_hmean'))} |")
    print("\nIoU H-mean here / in kfold_summary.json: "
          + "; ".join(f"{k} {a:.6f} / {b if b is None else f'{b:.6f}'}" for k, (a, b) in checks.items()))
    print(f"\nlatency over {speed['images']} test images, {speed['threads']} threads (score maps and decoding): "
          f"one model {speed['single_s_per_image']:.3f} s/image, ensemble of {len(checkpoints)} "
          f"{speed['ensemble_s_per_image']:.3f} s/image = {speed['ratio_to_n_singles']:.3f} x N single models "
          f"(target <= 1.10)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
