#!/usr/bin/env python
"""Time the reference implementation's integrated gradients (scnym.interpret.
IntegratedGradient) and its plain prediction (scnym.predict.Predicter) on a model
trained by the harness (run_scnym.py --out DIR  ->  DIR/model).

Integrated gradients toward each cell's predicted class, zero baseline, M steps,
exactly as the reference computes them (one forward/backward pass per path step).

Usage (reference venv python):
  ig_reference.py --model DIR/model --data DATA_DIR --domains B --n-cells 20 --steps 100 \
      --threads 1 --out ig.json
Writes a JSON with timings, cells/s and a completeness check
(sum_g IG_g vs f(x)_k - f(0)_k).
"""
import argparse
import json
import os
import os.path as osp
import pickle
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="harness model directory")
    ap.add_argument("--data", required=True)
    ap.add_argument("--domains", required=True, help="comma separated; cells to use")
    ap.add_argument("--n-cells", type=int, default=20)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    import numpy as np
    import pandas as pd
    import torch
    import torch.nn.functional as F
    import scanpy as sc
    import anndata
    from scnym import api, predict, utils
    from scnym.interpret import IntegratedGradient

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.RandomState(a.seed)

    # reuse the harness's reader so the data is read exactly as in the runs
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "run_scnym_harness", os.environ.get("SCNYM_REF_HARNESS",
                                            "/work/shared/tools/reference-scnym/run_scnym.py"))
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    M, genes, cells = harness.read_data(a.data, cells_by_genes=False)
    keep = cells["domain"].isin(a.domains.split(",")).values
    ad = anndata.AnnData(X=M[keep])
    ad.var_names = pd.Index(genes)
    ad.obs_names = pd.Index(cells.loc[keep, "cell_id"].astype(str).values)
    sc.pp.normalize_total(ad, target_sum=1e6)
    sc.pp.log1p(ad)

    with open(osp.join(a.model, "scnym_train_results.pkl"), "rb") as f:
        res = pickle.load(f)
    model_kwargs = api.CONFIGS["default"]["model_kwargs"]
    P = predict.Predicter(model_weights=osp.join(a.model, "00_best_model_weights.pkl"),
                          n_genes=res["n_genes"], n_cell_types=res["n_cell_types"],
                          labels=res["class_names"], **model_kwargs)
    model = P.models[0].eval()
    X = utils.build_classification_matrix(X=utils.get_adata_asarray(ad),
                                          model_genes=np.array(res["gene_names"]),
                                          sample_genes=np.array(ad.var_names))

    # plain prediction throughput (forward pass + softmax, batch 1024, as the API)
    t0 = time.time()
    _, names, prob = P.predict(X, output="prob")
    t_pred = time.time() - t0

    # integrated gradients for n random cells, toward their predicted class
    idx = rng.choice(X.shape[0], size=min(a.n_cells, X.shape[0]), replace=False)
    class_names = list(res["class_names"])
    IG = IntegratedGradient(model, class_names=class_names, gene_names=list(res["gene_names"]))
    zero = torch.zeros(1, X.shape[1])
    with torch.no_grad():
        p0 = F.softmax(model(zero), dim=-1)[0]
    rel_err, per_cell = [], []
    t0 = time.time()
    for i in idx:
        row = X[i]
        x = torch.from_numpy(np.asarray(row.todense() if hasattr(row, "todense") else row,
                                        dtype=np.float32)).view(-1)
        k = names[i]
        tc = time.time()
        ig = IG.get_integrated_gradient(x, target_class=k, M=a.steps)
        per_cell.append(time.time() - tc)
        with torch.no_grad():
            px = F.softmax(model(x.view(1, -1)), dim=-1)[0]
        kk = class_names.index(k)
        diff = float(px[kk] - p0[kk])
        rel_err.append(abs(float(ig.sum()) - diff) / max(abs(diff), 1e-8))
    t_ig = time.time() - t0

    out = {
        "n_cells_predicted": int(X.shape[0]),
        "predict_forward_time_s": t_pred,
        "predict_forward_cells_per_s": X.shape[0] / t_pred,
        "ig_n_cells": int(len(idx)),
        "ig_steps": a.steps,
        "ig_time_s": t_ig,
        "ig_cells_per_s": len(idx) / t_ig,
        "ig_per_cell_s": per_cell,
        "ig_completeness_rel_err_median": float(np.median(rel_err)),
        "ig_completeness_rel_err_max": float(np.max(rel_err)),
        "ig_method": "scnym.interpret.IntegratedGradient.get_integrated_gradient "
                     "(zero baseline, target = predicted class, one pass per step)",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "loadavg_1min_end": os.getloadavg()[0],
    }
    with open(a.out, "w") as f:
        json.dump(out, f, indent=2)
    print(json.dumps({k: v for k, v in out.items() if k != "ig_per_cell_s"}, indent=2))


if __name__ == "__main__":
    main()
