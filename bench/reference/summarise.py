#!/usr/bin/env python
"""Summarise the reference runs in bench/results/reference/<task>_seed<k>/.

For each run: accuracy and Cohen's kappa (harness, target cells whose true label
is a training class), macro-F1 over the same cells (mean of per-class F1 over the
classes occurring in the truth or the predictions, as sklearn's average="macro"),
ECE and overconfidence (10 equal-width confidence bins, (m-1)/10 < conf <= m/10;
ECE = sum_m |B_m|/N |acc(B_m) - conf(B_m)|, OE = sum_m |B_m|/N conf(B_m)
max(conf(B_m) - acc(B_m), 0)), wall time, seconds per epoch, epochs.
For tasks with target cell types absent from training (cellbench_unseen*): mean
confidence of known vs novel cells, fraction of novel cells with confidence <= 0.5
and of known cells with confidence > 0.5, and the AUROC of (1 - confidence) for
flagging novel cells.

Writes summary.tsv and summary.md next to the runs. Needs numpy + pandas only.
Usage: summarise.py [RESULTS_DIR] [--data DIR] [--bench DIR]
"""
import argparse
import glob
import json
import os
import os.path as osp
import re

import numpy as np
import pandas as pd

TASK_DATA = {
    "kang_ctrl_to_stim": ("data", "kang_ifnb_seurat2800"),
    "kang_stim_to_ctrl": ("data", "kang_ifnb_seurat2800"),
    "cellbench_unseen": ("bench", "cellbench_unseen"),
}


def calibration(conf, correct, n_bins=10):
    b = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = oe = 0.0
    n = len(conf)
    for m in range(n_bins):
        s = b == m
        if not s.any():
            continue
        acc, cm = correct[s].mean(), conf[s].mean()
        ece += s.sum() / n * abs(acc - cm)
        oe += s.sum() / n * cm * max(cm - acc, 0.0)
    return ece, oe


def macro_f1(truth, pred):
    f1 = []
    for c in sorted(set(truth) | set(pred)):
        tp = np.sum((truth == c) & (pred == c))
        fp = np.sum((truth != c) & (pred == c))
        fn = np.sum((truth == c) & (pred != c))
        f1.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1))


def auroc(score, positive):
    """P(score of a positive > score of a negative), ties count 1/2."""
    r = pd.Series(score).rank().values
    n1, n0 = positive.sum(), (~positive).sum()
    if n1 == 0 or n0 == 0:
        return None
    return float((r[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def main():
    here = osp.dirname(osp.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("results", nargs="?", default=osp.join(here, "..", "results", "reference"))
    ap.add_argument("--data", default=os.environ.get("SCNYM_DATA_DIR", "/work/shared/data"))
    ap.add_argument("--bench", default=os.environ.get(
        "SCNYM_BENCH_DIR", osp.expanduser("~/.cache/scnym/bench-data")))
    a = ap.parse_args()
    roots = {"data": a.data, "bench": a.bench}

    rows = []
    for d in sorted(glob.glob(osp.join(a.results, "*_seed*"))):
        m = re.match(r"(.+)_seed(\d+)$", osp.basename(d))
        if not m:
            continue
        task, seed = m.group(1), int(m.group(2))
        base = re.sub(r"_bs\d+$", "", task)
        row = {"task": task, "seed": seed}
        tj = osp.join(d, "timing.json")
        timing = json.load(open(tj)) if osp.exists(tj) else {}
        row["exit_code"] = timing.get("exit_code")
        row["wall_time_s"] = timing.get("wall_time_s")
        mj = osp.join(d, "metrics.json")
        if not osp.exists(mj):
            row["status"] = "failed"
            rows.append(row)
            continue
        met = json.load(open(mj))
        row["status"] = "ok"
        row["batch_size"] = met["config"].get("batch_size")
        pred = pd.read_csv(osp.join(d, "predictions.tsv"), sep="\t", dtype={"cell_id": str})
        kind, folder = TASK_DATA[base]
        cells = pd.read_csv(osp.join(roots[kind], folder, "cells.tsv"), sep="\t", dtype=str)
        truth_map = dict(zip(cells["cell_id"], cells["label"]))
        truth = pred["cell_id"].map(truth_map).astype(str).values
        p = pred["predicted"].astype(str).values
        conf = pred["confidence"].values.astype(float)
        train_classes = set(pd.read_csv(osp.join(d, "probabilities.tsv"), sep="\t", nrows=0)
                            .columns[1:]) if osp.exists(osp.join(d, "probabilities.tsv")) \
            else set(p)
        known = np.array([t in train_classes for t in truth])
        correct = (truth == p)
        row.update({
            "n_target": len(p),
            "n_evaluated": int(known.sum()),
            "accuracy": float(correct[known].mean()),
            "accuracy_harness": met["accuracy"],
            "kappa": met["cohens_kappa"],
            "macro_f1": macro_f1(truth[known], p[known]),
        })
        ece, oe = calibration(conf[known], correct[known].astype(float))
        row["ece"], row["oe"] = ece, oe
        row["mean_conf_known"] = float(conf[known].mean())
        if (~known).any():
            row["mean_conf_novel"] = float(conf[~known].mean())
            row["novel_frac_conf_le_0.5"] = float((conf[~known] <= 0.5).mean())
            row["known_frac_conf_gt_0.5"] = float((conf[known] > 0.5).mean())
            row["auroc_novel_by_lowconf"] = auroc(1 - conf, ~known)
        row["harness_wall_time_s"] = met["wall_time_s"]
        row["train_time_s"] = met["train_time_s"]
        row["predict_time_s"] = met["predict_time_s"]
        row["median_epoch_s"] = met["median_epoch_time_s"]
        row["median_epoch_cpu_s"] = float(np.median(met["per_epoch_cpu_time_s"]))
        row["epochs_run"] = met["epochs_run"]
        row["best_epoch"] = met["best_epoch"]
        row["loadavg_start"] = met["loadavg_1min_start"]
        row["loadavg_end"] = met["loadavg_1min_end"]
        rows.append(row)

    df = pd.DataFrame(rows)
    df.to_csv(osp.join(a.results, "summary.tsv"), sep="\t", index=False, float_format="%.4f")

    def f(x, nd=3):
        return "" if x is None or (isinstance(x, float) and np.isnan(x)) else (
            f"{x:.{nd}f}" if isinstance(x, float) else str(x))

    lines = ["| task | seed | status | accuracy | kappa | macro-F1 | ECE | OE | mean conf | "
             "wall s | s/epoch (wall) | s/epoch (CPU) | epochs (best) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in df.to_dict("records"):
        if r["status"] != "ok":
            lines.append(f"| {r['task']} | {r['seed']} | FAILED (exit {r.get('exit_code')}) "
                         f"| | | | | | | {f(r.get('wall_time_s'), 0)} | | | |")
            continue
        lines.append(
            f"| {r['task']} | {r['seed']} | ok | {f(r['accuracy'])} | {f(r['kappa'])} | "
            f"{f(r['macro_f1'])} | {f(r['ece'])} | {f(r['oe'])} | {f(r['mean_conf_known'])} | "
            f"{f(r.get('wall_time_s'), 0)} | {f(r['median_epoch_s'], 2)} | "
            f"{f(r['median_epoch_cpu_s'], 2)} | {int(r['epochs_run'])} ({int(r['best_epoch'])}) |")
    ok = df[df["status"] == "ok"] if "status" in df else df
    if len(ok):
        lines += ["", "Mean (sd) over seeds:", "",
                  "| task | n seeds | accuracy | macro-F1 | ECE | wall s |", "|---|---|---|---|---|---|"]
        for t, g in ok.groupby("task"):
            def ms(c, nd=3):
                v = g[c].astype(float)
                return f"{v.mean():.{nd}f}" + (f" ({v.std(ddof=1):.{nd}f})" if len(v) > 1 else "")
            lines.append(f"| {t} | {len(g)} | {ms('accuracy')} | {ms('macro_f1')} | {ms('ece')} | "
                         f"{ms('wall_time_s', 0)} |")
        nov = ok[ok.get("mean_conf_novel", pd.Series(dtype=float)).notna()] \
            if "mean_conf_novel" in ok else ok.iloc[0:0]
        if len(nov):
            lines += ["", "Unseen cell types (A549, H838 absent from training):", "",
                      "| task | seed | batch | known acc | mean conf known | mean conf novel | "
                      "novel conf<=0.5 | known conf>0.5 | AUROC novel vs 1-conf |",
                      "|---|---|---|---|---|---|---|---|---|"]
            for r in nov.to_dict("records"):
                lines.append(f"| {r['task']} | {r['seed']} | {int(r['batch_size'])} | {f(r['accuracy'])} | "
                             f"{f(r['mean_conf_known'])} | {f(r['mean_conf_novel'])} | "
                             f"{f(r['novel_frac_conf_le_0.5'])} | {f(r['known_frac_conf_gt_0.5'])} | "
                             f"{f(r['auroc_novel_by_lowconf'])} |")
    md = "\n".join(lines) + "\n"
    open(osp.join(a.results, "summary.md"), "w").write(md)
    print(md)


if __name__ == "__main__":
    main()
