"""Train the moderation classifier offline and write `data/classifier.json` (run by hand, not at run time).

    .venv/bin/python -m flywheel.safety.train_classifier            # fit on train + dev, write the weights
    .venv/bin/python -m flywheel.safety.train_classifier --cv 5     # k-fold CV on train + dev; writes nothing

One L2-regularised logistic regression per label (13 categories + `attack`) over the hashed features
of `classifier.features`, fitted with scikit-learn's liblinear solver. Gold labels: a harmful example
is positive for its categories and their parents; an attack example is positive for `attack` and
left out of the category labels (its payload may or may not be harmful); a benign example is
negative for everything. The held-out split is never read here.

Only features that occur in training are stored, each as its non-zero label weights (rounded to 3
decimals, those under MIN_WEIGHT dropped), so the JSON stays small; `classifier.predict` scores them
in pure Python. scikit-learn is needed only to run this.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from flywheel.safety.classifier import MIN_FEATURES, N_BUCKETS, WEIGHTS_PATH, features
from flywheel.safety.normalize import fold
from flywheel.safety.taxonomy import CATEGORIES, PARENT

DATA = Path(__file__).with_name("data")
LABELS = (*CATEGORIES, "attack")
MIN_WEIGHT = 0.05


def load(names=("trainset", "devset")) -> list[dict]:
    rows = []
    for name in names:
        rows += [json.loads(x) for x in (DATA / f"{name}.jsonl").read_text(encoding="utf-8").splitlines() if x]
    return rows


def targets(row: dict) -> tuple[np.ndarray, np.ndarray]:
    """(y, weight) over LABELS for one row; weight 0 leaves a label out for that row."""
    y = np.zeros(len(LABELS))
    w = np.ones(len(LABELS))
    cats = set(row["categories"]) | {PARENT[c] for c in row["categories"] if c in PARENT}
    for i, label in enumerate(LABELS):
        if label == "attack":
            y[i] = row["label"] == "attack"
        elif row["label"] == "attack":
            w[i] = 0.0
        else:
            y[i] = label in cats
    return y, w


def design(rows: list[dict]):
    from scipy.sparse import csr_matrix

    indptr, indices = [0], []
    for row in rows:
        feats = features(fold(row["text"]))
        indices += feats
        indptr.append(len(indices))
    data = np.ones(len(indices))
    # Same scaling as classifier.predict: each row sums to sqrt(n) instead of n.
    for r in range(len(rows)):
        n = indptr[r + 1] - indptr[r]
        data[indptr[r]:indptr[r + 1]] = 1.0 / np.sqrt(max(MIN_FEATURES, n))
    return csr_matrix((data, indices, indptr), shape=(len(rows), N_BUCKETS))


def fit(rows: list[dict], c: float):
    from sklearn.linear_model import LogisticRegression

    x = design(rows)
    ys, ws = zip(*(targets(r) for r in rows))
    y, w = np.array(ys), np.array(ws)
    coef = np.zeros((len(LABELS), N_BUCKETS))
    bias = np.zeros(len(LABELS))
    for i in range(len(LABELS)):
        keep = w[:, i] > 0
        if y[keep, i].sum() == 0:
            bias[i] = -10.0
            continue
        model = LogisticRegression(C=c, solver="liblinear", class_weight="balanced", max_iter=2000)
        model.fit(x[keep], y[keep, i])
        coef[i] = model.coef_[0]
        bias[i] = model.intercept_[0]
    return coef, bias, x


def export(coef: np.ndarray, bias: np.ndarray, x, path: Path, threshold: float) -> int:
    used = np.unique(x.indices)
    weights = {}
    for f in used:
        row = np.round(coef[:, f], 3)
        # Weights this small move no probability by more than ~1% after the sqrt(n) scaling; dropping
        # them halves the file and the cold-start load.
        row[np.abs(row) < MIN_WEIGHT] = 0.0
        if np.any(row != 0):
            # Sparse row: a flat list of label index, weight, label index, weight, ...
            weights[str(int(f))] = [x for i in np.flatnonzero(row) for x in (int(i), float(row[i]))]
    path.write_text(json.dumps({"labels": list(LABELS), "bias": [round(float(b), 4) for b in bias],
                                "n_buckets": N_BUCKETS, "threshold": threshold, "weights": weights},
                               separators=(",", ":")))
    return len(weights)


def cross_validate(rows: list[dict], c: float, k: int) -> None:
    rng = np.random.default_rng(0)
    order = rng.permutation(len(rows))
    probs = np.zeros((len(rows), len(LABELS)))
    for fold_i in range(k):
        test = order[fold_i::k]
        train = np.setdiff1d(order, test)
        coef, bias, _ = fit([rows[i] for i in train], c)
        xt = design([rows[i] for i in test])
        probs[test] = 1 / (1 + np.exp(-(xt @ coef.T + bias)))
    truth = np.array([targets(r)[0] for r in rows])
    mask = np.array([targets(r)[1] for r in rows]) > 0
    benign = np.array([r["label"] == "benign" for r in rows])
    for t in (0.5, 0.6, 0.7, 0.8):
        pred = probs >= t
        flagged = pred.any(axis=1)
        tp = (pred & (truth > 0) & mask).sum()
        fp = (pred & (truth == 0) & mask).sum()
        fn = (~pred & (truth > 0) & mask).sum()
        print(f"C={c} threshold {t}: label precision {tp / max(1, tp + fp):.2f} recall {tp / max(1, tp + fn):.2f}; "
              f"harmful+attack flagged {flagged[~benign].mean():.1%}, benign flagged {flagged[benign].mean():.1%}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--c", type=float, default=8.0, help="inverse L2 strength")
    ap.add_argument("--threshold", type=float, default=0.75,
                    help="probability that counts as a flag (shipped; predict() rescales it to 0.5)")
    ap.add_argument("--cv", type=int, default=0, help="k-fold cross-validation instead of writing weights")
    ap.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = ap.parse_args(argv)
    rows = load()
    if args.cv:
        cross_validate(rows, args.c, args.cv)
        return 0
    coef, bias, x = fit(rows, args.c)
    n = export(coef, bias, x, args.out, args.threshold)
    print(f"wrote {args.out} ({n} feature rows, {args.out.stat().st_size / 1e3:.0f} kB) from {len(rows)} examples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
