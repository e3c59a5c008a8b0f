#!/usr/bin/env python
"""Thin wrapper around the shared reference harness run_scnym.py.

It runs the harness unchanged (same arguments, same outputs) and, in addition,
writes `probabilities.tsv` next to `predictions.tsv`: the per-class softmax
probabilities that scnym.api.scnym_predict stores in
`adata.uns["scNym_probabilities"]` but that the harness does not save.

Extra options (removed before the harness parses the command line):
  --harness PATH       run_scnym.py to use (default: $SCNYM_REF_HARNESS or
                       /work/shared/tools/reference-scnym/run_scnym.py)
  --batch-size N       override the config's batch_size (default: keep 256)

Run it with the reference venv's python.
"""
import importlib.util
import os
import sys


def pop_opt(argv, name, default=None):
    if name in argv:
        i = argv.index(name)
        val = argv[i + 1]
        del argv[i:i + 2]
        return val
    return default


def main():
    argv = sys.argv[1:]
    harness = pop_opt(argv, "--harness",
                      os.environ.get("SCNYM_REF_HARNESS",
                                     "/work/shared/tools/reference-scnym/run_scnym.py"))
    batch_size = pop_opt(argv, "--batch-size")
    out = None
    if "--out" in argv:
        out = argv[argv.index("--out") + 1]

    spec = importlib.util.spec_from_file_location("run_scnym_harness", harness)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    from scnym import api

    if batch_size is not None:
        for cfg in api.CONFIGS.values():
            cfg["batch_size"] = int(batch_size)

    captured = {}
    orig_api = api.scnym_api

    def scnym_api_capture(*a, **k):
        r = orig_api(*a, **k)
        if k.get("task") == "predict":
            ad = k["adata"]
            captured["prob"] = ad.uns.get("scNym_probabilities")
            captured["cell_id"] = ad.obs["cell_id"].values
        return r

    api.scnym_api = scnym_api_capture
    sys.argv = [harness] + argv
    mod.main()

    prob = captured.get("prob")
    if out is not None and prob is not None:
        import pandas as pd
        df = pd.DataFrame(prob).copy()
        df.index = captured["cell_id"]
        df.index.name = "cell_id"
        df.to_csv(os.path.join(out, "probabilities.tsv"), sep="\t", float_format="%.6g")
    elif out is not None:
        print("warning: no probability matrix captured", file=sys.stderr)


if __name__ == "__main__":
    main()
