#!/usr/bin/env python3
"""Collects bench/results/engine/*.json into one summary, with speed-ups over the reference
(bench/results/reference/speed_synth_10k.json, when present) at the same thread count."""
import glob
import json
import os
import sys

out_dir, ref_path = sys.argv[1], sys.argv[2]
runs = {}
for path in sorted(glob.glob(os.path.join(out_dir, "*_t*.json"))):
    name = os.path.basename(path)[:-5]
    with open(path) as f:
        r = json.load(f)
    runs[name] = {k: r.get(k) for k in (
        "threads", "first_layer", "n_train_cells", "n_target_cells", "n_genes", "nnz_fraction",
        "steps_per_epoch", "seconds_per_epoch_median", "cpu_seconds_per_epoch_median",
        "seconds_per_epoch_min", "cpu_seconds_per_epoch_min", "avx2_fma",
        "predict_cells_per_s", "ig_cells_per_s", "ig_steps", "ig_completeness_rel_err_median",
        "target_accuracy_after_epochs", "loadavg_start", "loadavg_end")}

ref = None
if os.path.exists(ref_path):
    with open(ref_path) as f:
        ref = json.load(f)
comparison = []
if ref:
    for rr in ref.get("runs", []):
        t = rr["threads"]
        for suffix in ("", "_passive"):
            ours = runs.get(f"synth_10k_t{t}{suffix}")
            if not ours:
                continue
            row = {"threads": t, "engine_run": f"synth_10k_t{t}{suffix}",
                   "reference_seconds_per_epoch": rr["seconds_per_epoch"]["median"],
                   "engine_seconds_per_epoch": ours["seconds_per_epoch_median"],
                   "speedup_wall": rr["seconds_per_epoch"]["median"] / ours["seconds_per_epoch_median"]}
            if "cpu_seconds_per_epoch" in rr and ours.get("cpu_seconds_per_epoch_median"):
                row["reference_cpu_seconds_per_epoch"] = rr["cpu_seconds_per_epoch"]["median"]
                row["engine_cpu_seconds_per_epoch"] = ours["cpu_seconds_per_epoch_median"]
                row["speedup_cpu"] = rr["cpu_seconds_per_epoch"]["median"] / ours["cpu_seconds_per_epoch_median"]
            if rr.get("predict_cells_per_s"):
                row["predict_speedup"] = ours["predict_cells_per_s"] / rr["predict_cells_per_s"]
            if rr.get("ig_cells_per_s"):
                row["ig_speedup"] = ours["ig_cells_per_s"] / rr["ig_cells_per_s"]
                row["reference_ig_steps"] = rr.get("ig_steps")
            row["reference_loadavg"] = [rr.get("loadavg_1min_start"), rr.get("loadavg_1min_end")]
            comparison.append(row)
json.dump({"runs": runs, "vs_reference": comparison,
           "notes": "seconds per epoch: wall time of Trainer::run_epoch (training + validation), median over "
                    "the epochs run; cpu: process CPU time over the same interval. The machine is shared: "
                    "compare loadavg. *_passive: OMP_WAIT_POLICY=PASSIVE."},
          sys.stdout, indent=2)
print()
