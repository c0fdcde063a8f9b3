"""The reference receipt plan, measured: k folds, their ensemble, test-time augmentation and a
greedy soup, each scored by ICDAR 2015 IoU H-mean and CLEval H-mean, plus the ensemble's latency.

Run the folds first (``trainlab kfold``, keeping one checkpoint per epoch for the soup)::

    trainlab kfold experiment=ppocr_det_sroie n_folds=5 "callbacks=[default,ema,epoch_checkpoints]"
    python benchmarks/text_detection_kfold.py <the kfold folder> [--tta identity hflip scale_0.9 scale_1.1]

The script reads ``kfold_summary.json`` (per-fold test scores with the out-of-fold thresholds,
their mean ± std, the folds' ensemble) and adds, with ``trainlab eval`` on the test split
(thresholds never chosen on test):

- each fold alone and the ensemble again, for CLEval beside IoU;
- the ensemble with test-time augmentation (``--tta``);
- a greedy soup (Wortsman et al. 2022) over fold 0's epoch checkpoints, judged on fold 0's
  held-out fold (the only validation split none of them trained on);
- latency: seconds per test image of one fold model and of the ensemble of all folds, and their
  ratio against N times the single model's.

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kfold_dir", type=Path)
    parser.add_argument("--tta", nargs="+", default=["identity", "hflip", "scale_0.9", "scale_1.1"])
    parser.add_argument("--skip-soup", action="store_true")
    args = parser.parse_args()
    folder = args.kfold_dir.resolve()
    summary = json.loads((folder / "kfold_summary.json").read_text())
    checkpoints = [f["checkpoint"] for f in summary["folds"]]
    bench = folder / "benchmark"
    rows = []
    for fold in summary["folds"]:
        metrics, _ = evaluate([fold["checkpoint"]], bench / f"fold{fold['fold']}", [], folder)
        rows.append(row(f"fold {fold['fold']}", metrics))
    singles = [r for r in rows]
    for key in ("hmean", "cleval_hmean"):
        values = [r[key] for r in singles if r[key] is not None]
        if values:
            rows.append({"what": f"mean ± std of {len(values)} folds", key: (statistics.fmean(values), statistics.stdev(values))})
    metrics, _ = evaluate(checkpoints, bench / "ensemble", [], folder)
    rows.append(row(f"ensemble of {len(checkpoints)} folds", metrics))
    tta = "[" + ",".join(args.tta) + "]"
    metrics, _ = evaluate(checkpoints, bench / "ensemble_tta", [f"tta={tta}"], folder)
    rows.append(row(f"ensemble + TTA {tta}", metrics))
    if not args.skip_soup:
        run = Path(summary["folds"][0]["checkpoint"]).parents[1]
        soup = json.loads(trainlab("average", "--greedy", "--run", str(run), "-o", str(bench / "soup.ckpt"),
                                   cwd=folder).strip().splitlines()[-1])
        metrics, _ = evaluate([str(bench / "soup.ckpt")], bench / "soup", [], folder)
        rows.append({**row(f"greedy soup of fold 0's epochs ({len(soup['ingredients'])} of {len(soup['steps'])} kept)",
                           metrics), "soup": soup})
    speed = latency(checkpoints)
    result = {"rows": rows, "latency": speed, "out_of_fold_choice": summary.get("out_of_fold_choice")}
    (folder / "benchmark.json").write_text(json.dumps(result, indent=2))
    print("| what | IoU H-mean (P / R) | CLEval H-mean |\n|---|---|---|")
    for r in rows:
        if isinstance(r.get("hmean"), tuple) or isinstance(r.get("cleval_hmean"), tuple):
            iou = r.get("hmean")
            clv = r.get("cleval_hmean")
            print(f"| {r['what']} | {f'{iou[0]:.4f} ± {iou[1]:.4f}' if iou else ''} | "
                  f"{f'{clv[0]:.4f} ± {clv[1]:.4f}' if clv else ''} |")
        else:
            clv = f"{r['cleval_hmean']:.4f}" if r.get("cleval_hmean") is not None else ""
            print(f"| {r['what']} | {r['hmean']:.4f} ({r['precision']:.4f} / {r['recall']:.4f}) | {clv} |")
    print(f"\nlatency over {speed['images']} test images, {speed['threads']} threads (score maps and decoding): "
          f"one model {speed['single_s_per_image']:.3f} s/image, ensemble of {len(checkpoints)} "
          f"{speed['ensemble_s_per_image']:.3f} s/image = {speed['ratio_to_n_singles']:.3f} x N single models "
          f"(target <= 1.10)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
