#!/usr/bin/env python3
"""Python peers of the accuracy benchmark: logistic regression, linear SVM, CellTypist, scANVI.

Reads the tasks exported by tasks.R (bench/accuracy/cache/tasks/<task>/) and writes per-cell
predictions to bench/results/accuracy/predictions/<method>/<task>__seed<k>.csv.gz with columns
cell, truth, predicted, score, flagged. A task/seed whose file exists is skipped (--force
recomputes). Failures go to bench/results/accuracy/failures/<method>/<task>__seed<k>.txt and never
stop the run; run times to bench/results/accuracy/runs/<method>.csv.

Methods (deterministic ones run once, as seed 0; scANVI with every --seeds):
  logreg      scikit-learn LogisticRegression (lbfgs, multinomial, C = 1, max_iter = 1000) on
              log1p(CP10k), not standardised (as the data README's no-adaptation reference point).
              score = max class probability; flagged = max probability < 0.5.
  svm         LinearSVC (C = 1, random_state = 0) on log1p(CP10k), not standardised, wrapped in
              CalibratedClassifierCV(method = "sigmoid") on 3 stratified folds (shuffled, seed 0;
              passed as a list, so classes with < 3 reference cells are allowed: a fold without a
              class gives it probability 0): probabilities are the calibrated ones (mean over the
              3 folds' calibrated copies; the call is their argmax).
              score = max calibrated probability; flagged = max probability < 0.5.
  celltypist  celltypist.train on the reference's log1p(CP10k) (its defaults: logistic regression,
              no SGD, no feature selection, n_jobs = 1), celltypist.annotate(majority_voting =
              False, mode = "best match"). score = max of CellTypist's per-class (one-vs-rest)
              probabilities; flagged = that max < 0.5 (what mode = "prob match", p_thres = 0.5,
              calls "Unassigned").
  scanvi      scvi-tools: 2,000 HVGs (scanpy, flavor "seurat_v3", batch_key = domain, on reference
              and query counts together), SCVI(batch_key = domain; defaults) trained with its
              default epochs, then SCANVI.from_scvi_model with the query as unlabelled
              ("Unknown"), trained with its default epochs; CPU, 1 thread. score = max of the
              soft prediction; flagged = max < 0.5.

Usage: bench-venv/bin/python bench/accuracy/peers_py.py [--methods logreg,svm,celltypist]
         [--tasks a,b] [--seeds 0,1,2] [--force]
"""
import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
           "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import gzip  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy.io  # noqa: E402
import scipy.sparse as sp  # noqa: E402

HERE = Path(__file__).resolve().parents[2]
CACHE = HERE / "bench" / "accuracy" / "cache" / "tasks"
RESULTS = HERE / "bench" / "results" / "accuracy"
ALL_TASKS = (["kang_ctrl_to_stim", "kang_stim_to_ctrl"]
             + [f"panc8_loto_{t}" for t in ("celseq", "celseq2", "fluidigmc1", "indrop", "smartseq2")]
             + [f"panc8_single_{t}" for t in ("celseq", "celseq2", "fluidigmc1", "indrop", "smartseq2")]
             + ["cellbench_celseq2_3cl", "cellbench_dropseq_3cl"])
DETERMINISTIC = {"logreg", "svm", "celltypist"}


def load_task(task):
    d = CACHE / task
    if not (d / "query.tsv").exists():
        raise SystemExit(f"task {task} not exported: run Rscript bench/accuracy/tasks.R first")
    genes = (d / "genes.tsv").read_text().splitlines()
    ref = sp.csr_matrix(scipy.io.mmread(str(d / "reference.mtx")).T, dtype=np.float64)
    query = sp.csr_matrix(scipy.io.mmread(str(d / "query.mtx")).T, dtype=np.float64)
    ref_meta = pd.read_csv(d / "reference.tsv", sep="\t", dtype=str, keep_default_na=False)
    query_meta = pd.read_csv(d / "query.tsv", sep="\t", dtype=str, keep_default_na=False)
    return dict(genes=genes, ref=ref, query=query, ref_meta=ref_meta, query_meta=query_meta)


def log_cp10k(x):
    """log1p of counts scaled to 10,000 per cell (cells x genes CSR)."""
    totals = np.asarray(x.sum(axis=1)).ravel()
    totals[totals == 0] = 1.0
    y = sp.diags(1e4 / totals) @ x
    y = sp.csr_matrix(y)
    y.data = np.log1p(y.data)
    return y


def run_logreg(t, seed):
    from sklearn.linear_model import LogisticRegression
    clf = LogisticRegression(C=1.0, max_iter=1000)
    clf.fit(log_cp10k(t["ref"]), t["ref_meta"]["label"].to_numpy())
    prob = clf.predict_proba(log_cp10k(t["query"]))
    return prob_result(clf.classes_, prob)


def run_svm(t, seed):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import LinearSVC
    x = log_cp10k(t["ref"])
    y = t["ref_meta"]["label"].to_numpy()
    # The folds are passed as a list so that classes with fewer than 3 reference cells are
    # allowed (sklearn refuses them for cv = 3); a fold whose training part lacks a class gives it
    # probability 0 in that fold's calibrated copy.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        folds = list(StratifiedKFold(n_splits=3, shuffle=True, random_state=0).split(x, y))
    clf = CalibratedClassifierCV(LinearSVC(C=1.0, random_state=0), method="sigmoid", cv=folds)
    clf.fit(x, y)
    prob = clf.predict_proba(log_cp10k(t["query"]))
    return prob_result(clf.classes_, prob)


def prob_result(classes, prob):
    best = prob.argmax(axis=1)
    score = prob[np.arange(prob.shape[0]), best]
    return dict(predicted=np.asarray(classes)[best], score=score, flagged=score < 0.5, note="")


def run_celltypist(t, seed):
    import anndata
    import celltypist
    ref = anndata.AnnData(X=log_cp10k(t["ref"]).astype(np.float32),
                          obs=pd.DataFrame(index=t["ref_meta"]["cell"].to_numpy()),
                          var=pd.DataFrame(index=t["genes"]))
    query = anndata.AnnData(X=log_cp10k(t["query"]).astype(np.float32),
                            obs=pd.DataFrame(index=t["query_meta"]["cell"].to_numpy()),
                            var=pd.DataFrame(index=t["genes"]))
    model = celltypist.train(ref, labels=t["ref_meta"]["label"].to_numpy(), n_jobs=1,
                             feature_selection=False, check_expression=True)
    pred = celltypist.annotate(query, model=model, majority_voting=False, mode="best match")
    labels = pred.predicted_labels["predicted_labels"].astype(str).to_numpy()
    prob = pred.probability_matrix
    score = prob.max(axis=1).to_numpy()
    return dict(predicted=labels, score=score, flagged=score < 0.5, note="")


def run_scanvi(t, seed):
    import anndata
    import scanpy as sc
    import scvi
    import torch
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1) if not getattr(run_scanvi, "_interop", False) else None
    run_scanvi._interop = True
    scvi.settings.seed = seed
    scvi.settings.num_threads = 1
    scvi.settings.dl_num_workers = 0
    x = sp.vstack([t["ref"], t["query"]]).tocsr().astype(np.float32)
    obs = pd.DataFrame({
        "label": np.concatenate([t["ref_meta"]["label"].to_numpy(),
                                 np.repeat("Unknown", t["query"].shape[0])]),
        "batch": np.concatenate([t["ref_meta"]["domain"].to_numpy(),
                                 t["query_meta"]["domain"].to_numpy()]),
    }, index=np.concatenate([t["ref_meta"]["cell"].to_numpy(), t["query_meta"]["cell"].to_numpy()]))
    adata = anndata.AnnData(X=x, obs=obs, var=pd.DataFrame(index=t["genes"]))
    n_hvg = min(2000, adata.n_vars)
    if adata.n_vars > n_hvg:
        sc.pp.highly_variable_genes(adata, n_top_genes=n_hvg, flavor="seurat_v3",
                                    batch_key="batch", subset=True)
    scvi.model.SCVI.setup_anndata(adata, batch_key="batch", labels_key="label")
    vae = scvi.model.SCVI(adata)
    vae.train(accelerator="cpu", devices=1, enable_progress_bar=False)
    lvae = scvi.model.SCANVI.from_scvi_model(vae, unlabeled_category="Unknown",
                                             labels_key="label")
    lvae.train(accelerator="cpu", devices=1, enable_progress_bar=False)
    n_ref = t["ref"].shape[0]
    prob = lvae.predict(adata[n_ref:], soft=True)
    prob = prob.drop(columns=[c for c in prob.columns if c == "Unknown"])
    best = prob.to_numpy().argmax(axis=1)
    score = prob.to_numpy()[np.arange(prob.shape[0]), best]
    epochs = (vae.history["elbo_train"].shape[0], lvae.history["elbo_train"].shape[0])
    return dict(predicted=prob.columns.to_numpy()[best].astype(str), score=score,
                flagged=score < 0.5, note=f"{adata.n_vars} genes, epochs scvi {epochs[0]} scanvi {epochs[1]}")


RUNNERS = dict(logreg=run_logreg, svm=run_svm, celltypist=run_celltypist, scanvi=run_scanvi)


def write_predictions(path, t, res):
    path.parent.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame({"cell": t["query_meta"]["cell"], "truth": t["query_meta"]["label"],
                       "predicted": res["predicted"], "score": res["score"],
                       "flagged": np.where(np.asarray(res["flagged"], dtype=bool), "TRUE", "FALSE")})
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt") as f:
        df.to_csv(f, index=False)
    tmp.rename(path)


def append_run(method, row):
    d = RESULTS / "runs"
    d.mkdir(parents=True, exist_ok=True)
    f = d / f"{method}.csv"
    new = not f.exists()
    with open(f, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="logreg,svm,celltypist")
    ap.add_argument("--tasks", default=",".join(ALL_TASKS))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    # scvi-tools on the non-integer panc8 counts: one warning per mini-batch, nothing else.
    warnings.filterwarnings("ignore", message="The value argument must be within the support")
    seeds = [int(s) for s in a.seeds.split(",")]
    for method in a.methods.split(","):
        if method not in RUNNERS:
            raise SystemExit(f"unknown method {method}")
        for task in a.tasks.split(","):
            for seed in ([0] if method in DETERMINISTIC else seeds):
                out = RESULTS / "predictions" / method / f"{task}__seed{seed}.csv.gz"
                fail = RESULTS / "failures" / method / f"{task}__seed{seed}.txt"
                if out.exists() and not a.force:
                    print(f"{method:10s} {task:26s} seed {seed} cached", flush=True)
                    continue
                t = load_task(task)
                load = os.getloadavg()[0]
                t0 = time.time()
                try:
                    res = RUNNERS[method](t, seed)
                except Exception as e:  # record and go on: the bench never stops on a peer
                    secs = time.time() - t0
                    reason = f"{type(e).__name__}: {e}".replace("\n", " ")
                    fail.parent.mkdir(parents=True, exist_ok=True)
                    fail.write_text(reason + "\n")
                    traceback.print_exc()
                    print(f"{method:10s} {task:26s} seed {seed} FAILED: {reason}", flush=True)
                    append_run(method, dict(method=method, task=task, seed=seed, status="failed",
                                            seconds=round(secs, 2), accuracy="NA",
                                            load_average=load, note=reason,
                                            time=time.strftime("%Y-%m-%d %H:%M:%S")))
                    continue
                secs = time.time() - t0
                write_predictions(out, t, res)
                if fail.exists():
                    fail.unlink()
                truth = t["query_meta"]["label"].to_numpy()
                known = np.isin(truth, t["ref_meta"]["label"].unique())
                acc = float(np.mean(np.asarray(res["predicted"])[known] == truth[known]))
                print(f"{method:10s} {task:26s} seed {seed} accuracy {acc:.3f}, {secs:.1f} s "
                      f"{res['note']}", flush=True)
                append_run(method, dict(method=method, task=task, seed=seed, status="ok",
                                        seconds=round(secs, 2), accuracy=round(acc, 4),
                                        load_average=load, note=res["note"],
                                        time=time.strftime("%Y-%m-%d %H:%M:%S")))


if __name__ == "__main__":
    main()
