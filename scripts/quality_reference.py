#!/usr/bin/env python3
"""Reference values for src/engine/quality.ts, computed by scikit-learn.

Writes test/fixtures/quality/reference.json: seeded labellings (truth, pred) and what sklearn
says about each. test/engine/quality.test.ts loads that file, so the tests need no Python.

    /usr/bin/python3 scripts/quality_reference.py      # Debian: apt-get install python3-sklearn

Purity is not in sklearn; it is taken here from sklearn's contingency_matrix (sum of column
maxima / n). The case "formula60k" stores no arrays: its labels are given by a formula that the
test computes again (see FORMULA below), to check 60,000 rows without a large fixture.
"""

import json
import os
import sys

import numpy as np
import sklearn
from sklearn.metrics import (
    adjusted_rand_score,
    homogeneity_completeness_v_measure,
    normalized_mutual_info_score,
)
from sklearn.metrics.cluster import contingency_matrix

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "quality", "reference.json")

# Keep in step with formulaLabels() in test/engine/quality.test.ts.
FORMULA = "truth[i] = ((i*i + 7*i) % 1009) % 400; pred[i] = 3*truth[i] + (i % 4 == 0 ? i % 5 : 0)"


def formula_labels(n):
    i = np.arange(n, dtype=np.int64)
    truth = ((i * i + 7 * i) % 1009) % 400
    pred = 3 * truth + np.where(i % 4 == 0, i % 5, 0)
    return truth, pred


def scores(truth, pred):
    truth = np.asarray(truth)
    pred = np.asarray(pred)
    h, c, v = homogeneity_completeness_v_measure(truth, pred)
    n = len(truth)
    if n:
        purity = float(contingency_matrix(truth, pred).max(axis=0).sum()) / n
    else:
        purity = 1.0
    return {
        "nmi": float(normalized_mutual_info_score(truth, pred, average_method="geometric")),
        "nmiArithmetic": float(normalized_mutual_info_score(truth, pred, average_method="arithmetic")),
        "ari": float(adjusted_rand_score(truth, pred)),
        "homogeneity": float(h),
        "completeness": float(c),
        "vMeasure": float(v),
        "purity": purity,
        "clusters": int(len(np.unique(pred))),
        "labels": int(len(np.unique(truth))),
        "n": int(n),
    }


def noisy(rng, labels, p, k):
    """Each label replaced by a random one of k with probability p."""
    labels = np.array(labels)
    flip = rng.random(len(labels)) < p
    labels[flip] = rng.integers(0, k, flip.sum())
    return labels


def cases():
    rng = np.random.default_rng(20260101)
    out = []

    def add(name, truth, pred):
        out.append({"name": name, "truth": [x.item() if hasattr(x, "item") else x for x in truth],
                    "pred": [x.item() if hasattr(x, "item") else x for x in pred]})

    add("random", rng.integers(0, 10, 1000), rng.integers(0, 15, 1000))
    truth = rng.integers(0, 8, 500)
    add("perfect", truth, truth.copy())
    perm = rng.permutation(8) + 100
    add("permuted", truth, perm[truth])
    add("noisy", truth, noisy(rng, truth, 0.3, 12))
    add("one-cluster-both", [5] * 50, [9] * 50)
    add("one-cluster-pred", rng.integers(0, 4, 60), [0] * 60)
    add("one-cluster-true", [0] * 60, rng.integers(0, 4, 60))
    add("all-singletons-pred", rng.integers(0, 5, 80), np.arange(80))
    add("all-singletons-both", np.arange(40), np.arange(40)[::-1])
    add("singletons-vs-one", np.arange(30), [1] * 30)
    add("single-row", [3], [7])
    add("empty", [], [])
    # Zipf-like sizes: a few big stories, a long tail of tiny ones; every one of the 300 occurs.
    weights = 1.0 / np.arange(1, 301) ** 1.1
    truth = rng.permutation(np.concatenate([np.arange(300), rng.choice(300, size=1700, p=weights / weights.sum())]))
    pred = noisy(rng, truth * 2 + rng.integers(0, 2, 2000), 0.15, 700)
    add("unbalanced-300x2000", truth, pred)
    stories = ["storm", "strike", "final", "launch", "wildfire", "debate", "noise"]
    truth = [stories[k] for k in rng.integers(0, len(stories), 300)]
    pred = [f"c{k}" for k in noisy(rng, [stories.index(s) for s in truth], 0.25, 9)]
    add("string-labels", truth, pred)
    add("string-vs-int", truth, rng.integers(0, 5, 300))

    for case in out:
        case["expected"] = scores(case["truth"], case["pred"])
    t, p = formula_labels(60000)
    out.append({"name": "formula60k", "formula": FORMULA, "n": 60000, "expected": scores(t, p)})
    return out


def main():
    data = {
        "generator": "scripts/quality_reference.py",
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "cases": cases(),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(data, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.relpath(OUT)}: {len(data['cases'])} cases, {os.path.getsize(OUT)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
