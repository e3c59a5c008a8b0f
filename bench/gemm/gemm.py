# Median float32 GEMM rate of the same libtorch in Python (n x n, 5 repetitions after a warm-up).
import json, statistics, sys, time
import torch

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
torch.set_num_threads(threads)
a, b = torch.randn(n, n), torch.randn(n, n)
rates = []
for _ in range(3):
    a @ b
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        a @ b
        runs.append(2 * n**3 / (time.perf_counter() - t) / 1e9)
    rates.append(statistics.median(runs))
print(json.dumps({"where": "Python", "n": n, "threads": threads, "gflops": round(statistics.median(rates), 2),
                  "torch": torch.__version__}))
