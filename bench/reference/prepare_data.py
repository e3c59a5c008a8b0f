#!/usr/bin/env python
"""Write the derived benchmark data folders (harness layout: matrix.mtx.gz genes x
cells, genes.tsv, cells.tsv, label_counts.md) used by the reference runs.

  cellbench_unseen : cellbench_celllines, singlet == TRUE cells only, ERCC spike-ins
                     dropped (genes_full.tsv is_ercc), domains celseq2_3cl +
                     celseq2_5cl_p1/p2/p3. Values unchanged (raw integer UMI counts).
  synth_10k        : gen_synth.py, 20,000 cells split evenly over 2 domains
                     (A = 10,000 training, B = 10,000 target) x 2,000 genes, seed 0.

Usage: python prepare_data.py [--data DIR] [--out DIR] [--gen-synth PATH] [--force]
Each folder is skipped when it already holds a DONE stamp (use --force to rewrite).
"""
import argparse
import gzip
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
from scipy import io, sparse

CELLBENCH_DOMAINS = ["celseq2_3cl", "celseq2_5cl_p1", "celseq2_5cl_p2", "celseq2_5cl_p3"]


def label_counts_md(cells, title):
    tab = pd.crosstab(cells["label"], cells["domain"], margins=True, margins_name="total")
    lines = [title, "", "| label | " + " | ".join(map(str, tab.columns)) + " |",
             "|---" * (len(tab.columns) + 1) + "|"]
    for lab, row in tab.iterrows():
        lines.append(f"| {lab} | " + " | ".join(str(int(v)) for v in row.values) + " |")
    return "\n".join(lines) + "\n"


def write_mtx_int(path, M):
    """genes x cells integer MatrixMarket, gzip."""
    M = sparse.coo_matrix(M)
    with gzip.open(path, "wt") as f:
        f.write("%%MatrixMarket matrix coordinate integer general\n")
        f.write(f"{M.shape[0]} {M.shape[1]} {M.nnz}\n")
        order = np.lexsort((M.row, M.col))  # column-major, like the source files
        r, c, v = M.row[order] + 1, M.col[order] + 1, M.data[order]
        if not np.all(v == np.round(v)):
            raise ValueError("non-integer values; this writer keeps integers only")
        chunk = 1_000_000
        for s in range(0, len(v), chunk):
            block = np.column_stack([r[s:s + chunk], c[s:s + chunk],
                                     v[s:s + chunk].astype(np.int64)])
            np.savetxt(f, block, fmt="%d")


def make_cellbench_unseen(data, out):
    src = osp.join(data, "cellbench_celllines")
    M = sparse.csc_matrix(io.mmread(gzip.open(osp.join(src, "matrix.mtx.gz"))))  # genes x cells
    genes = [l.rstrip("\n") for l in open(osp.join(src, "genes.tsv"))]
    gfull = pd.read_csv(osp.join(src, "genes_full.tsv"), sep="\t", dtype=str)
    cells = pd.read_csv(osp.join(src, "cells.tsv"), sep="\t", dtype=str, keep_default_na=False)
    assert M.shape == (len(genes), len(cells)), (M.shape, len(genes), len(cells))
    assert len(gfull) == len(genes)
    is_ercc = gfull["is_ercc"].str.upper().eq("TRUE").values
    keep_g = ~is_ercc
    keep_c = (cells["singlet"].str.upper().eq("TRUE") & cells["domain"].isin(CELLBENCH_DOMAINS)).values
    M2 = M[keep_g][:, keep_c]
    genes2 = [g for g, k in zip(genes, keep_g) if k]
    cells2 = cells.loc[keep_c].reset_index(drop=True)
    # drop genes with no count in the kept cells? No: keep every non-ERCC gene (values unchanged).
    os.makedirs(out, exist_ok=True)
    write_mtx_int(osp.join(out, "matrix.mtx.gz"), M2)
    with open(osp.join(out, "genes.tsv"), "w") as f:
        f.write("\n".join(genes2) + "\n")
    cells2.to_csv(osp.join(out, "cells.tsv"), sep="\t", index=False)
    with open(osp.join(out, "label_counts.md"), "w") as f:
        f.write(label_counts_md(cells2, "cellbench_unseen: singlets, ERCC dropped "
                                       f"({int(is_ercc.sum())} genes); train celseq2_3cl, "
                                       "target celseq2_5cl_p1/p2/p3"))
    print(f"cellbench_unseen: {len(genes2)} genes x {len(cells2)} cells "
          f"(dropped {int(is_ercc.sum())} ERCC), nnz={M2.nnz}")


def make_synth(gen_synth, out):
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [sys.executable, gen_synth, "--out", tmp, "--n-cells", "20000",
           "--n-genes", "2000", "--n-domains", "2", "--seed", "0"]
    print(" ".join(cmd))
    subprocess.run(cmd, check=True)
    cells = pd.read_csv(osp.join(tmp, "cells.tsv"), sep="\t", dtype=str)
    with open(osp.join(tmp, "label_counts.md"), "w") as f:
        f.write(label_counts_md(cells, "synth_10k: gen_synth.py --n-cells 20000 --n-genes 2000 "
                                       "--n-domains 2 --seed 0 (A = training, B = target)"))
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("SCNYM_DATA_DIR", "/work/shared/data"))
    ap.add_argument("--out", default=os.environ.get(
        "SCNYM_BENCH_DIR", osp.expanduser("~/.cache/scnym/bench-data")))
    ap.add_argument("--gen-synth", default="/work/shared/tools/reference-scnym/gen_synth.py")
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--only", choices=["cellbench_unseen", "synth_10k"], default=None)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    jobs = {"cellbench_unseen": lambda o: make_cellbench_unseen(a.data, o),
            "synth_10k": lambda o: make_synth(a.gen_synth, o)}
    for name, fn in jobs.items():
        if a.only and name != a.only:
            continue
        o = osp.join(a.out, name)
        if osp.exists(osp.join(o, "DONE")) and not a.force:
            print(f"{name}: present ({o})")
            continue
        fn(o)
        open(osp.join(o, "DONE"), "w").write("ok\n")
        print(f"{name}: written to {o}")


if __name__ == "__main__":
    main()
