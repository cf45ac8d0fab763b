#!/usr/bin/env python3
"""The baseline of bench/speed.ts: scikit-learn's Birch on the same stream, in the two ways a
Python service could run it.

  assign+answer  partial_fit in batches, reading labels_ after each (compute_labels=True, the
                 default): the service needs each tweet's cluster to answer with it.
  insert-only    the same with compute_labels=False: the tree alone.

Each is timed with time.perf_counter over the whole stream, one fresh Birch per mode and
threshold. The rows are read from the file bench/blobs.ts writes (n x d float64 LE, row-major).
Prints one JSON object on stdout; progress goes to stderr.

    /usr/bin/python3 bench/sklearn_birch.py --data bench/out/blobs-d256.f64 --dim 256 \\
        --thresholds 0.3,0.5 --branching 50 --batch 1000 [--limit N]

--limit N uses the first N rows only; BENCH_QUICK=1 in the environment means --limit 10000.

Without scikit-learn it runs `apt-get install -y python3-sklearn` (Debian's package, the
version the golden tests were made with); if that fails it prints {"skipped": reason}.
"""

import argparse
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import time


def log(msg):
    print(f"[sklearn] {msg}", file=sys.stderr, flush=True)


def ensure_sklearn():
    """None when sklearn imports (installing it if need be), else why it does not."""
    try:
        import sklearn  # noqa: F401

        return None
    except ImportError as e:
        first = str(e)
    log(f"import sklearn failed ({first}); running apt-get install -y python3-sklearn")
    try:
        done = subprocess.run(
            ["apt-get", "install", "-y", "python3-sklearn"],
            stdout=sys.stderr,
            stderr=sys.stderr,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            check=False,
        )
    except OSError as e:
        return f"import sklearn failed ({first}) and apt-get could not run: {e}"
    if done.returncode != 0:
        return f"import sklearn failed ({first}) and apt-get install -y python3-sklearn exited {done.returncode}"
    importlib.invalidate_caches()
    try:
        import sklearn  # noqa: F401
    except ImportError as e:
        return f"sklearn is still not importable after apt-get install: {e}"
    return None


def blas_info():
    try:
        from threadpoolctl import threadpool_info

        return [
            {k: p.get(k) for k in ("internal_api", "version", "num_threads", "threading_layer")}
            for p in threadpool_info()
        ]
    except Exception as e:  # threadpoolctl is optional here: only informative
        return f"unknown ({e})"


def run_stream(X, threshold, branching, batch, compute_labels):
    from sklearn.cluster import Birch

    model = Birch(
        n_clusters=None,
        threshold=threshold,
        branching_factor=branching,
        compute_labels=compute_labels,
    )
    n = X.shape[0]
    sink = 0
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        model.partial_fit(X[start : start + batch])
        if compute_labels:
            # what the service answers: the cluster of each tweet of the batch
            labels = model.labels_
            sink += int(labels[-1])
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "points_per_s": n / seconds,
        "n_subclusters": int(model.subcluster_centers_.shape[0]),
        "sink": sink,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="n x d float64 LE row-major file")
    ap.add_argument("--dim", type=int, required=True)
    ap.add_argument("--thresholds", default="0.3,0.5")
    ap.add_argument("--branching", type=int, default=50)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N rows (BENCH_QUICK=1: 10000)")
    ap.add_argument(
        "--modes", default="insert-only,assign+answer", help="comma-separated: insert-only, assign+answer"
    )
    args = ap.parse_args()
    if not args.limit and os.environ.get("BENCH_QUICK") == "1":
        args.limit = 10_000

    reason = ensure_sklearn()
    if reason is not None:
        log(f"skipping the baseline: {reason}")
        print(json.dumps({"skipped": reason}))
        return

    import numpy as np
    import sklearn

    X = np.fromfile(args.data, dtype="<f8")
    if X.size % args.dim != 0:
        raise SystemExit(f"{args.data}: {X.size} values is not a multiple of d = {args.dim}")
    X = X.reshape(-1, args.dim)
    if args.limit:
        X = X[: args.limit]
    X = np.ascontiguousarray(X)

    # warm-up: imports, BLAS threads and partial_fit's first-call validation, off the clock
    warm = np.random.default_rng(7).standard_normal((2000, args.dim))
    warm /= np.linalg.norm(warm, axis=1, keepdims=True)
    for compute_labels in (False, True):
        run_stream(warm, 0.5, args.branching, args.batch, compute_labels)

    results = []
    for threshold in [float(t) for t in args.thresholds.split(",")]:
        for mode in args.modes.split(","):
            if mode not in ("insert-only", "assign+answer"):
                raise SystemExit(f"unknown mode {mode!r}")
            log(f"d={args.dim} T={threshold} {mode}: {X.shape[0]} rows ...")
            r = run_stream(X, threshold, args.branching, args.batch, mode == "assign+answer")
            log(f"  {r['points_per_s']:.0f} points/s, {r['n_subclusters']} subclusters, {r['seconds']:.1f} s")
            results.append({"d": args.dim, "threshold": threshold, "mode": mode, **r})

    print(
        json.dumps(
            {
                "sklearn": sklearn.__version__,
                "numpy": np.__version__,
                "python": platform.python_version(),
                "blas": blas_info(),
                "rows": int(X.shape[0]),
                "batch": args.batch,
                "branching_factor": args.branching,
                # ru_maxrss is in KiB on Linux
                "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
