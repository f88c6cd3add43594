"""The trainer's Naive-Bayes scaling (train_classifier.nb_scale): what it scales, and that fitting with it
gives evidence for a label more weight than plain L2 does."""

import numpy as np
from scipy.sparse import csr_matrix

from flywheel.safety.classifier import CHAR_GRAMS, N_BUCKETS, features
from flywheel.safety.normalize import fold
from flywheel.safety.train_classifier import LABELS, fit, nb_scale


def test_nb_scale_raises_only_columns_seen_more_in_the_positive_rows():
    # Columns: 0 only in positive rows, 1 only in negative rows, 2 in both alike, 3 never seen.
    x = csr_matrix(np.array([[1, 0, 1, 0], [1, 0, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0]], dtype=float))
    positive = np.array([True, True, False, False])
    scale = nb_scale(x, positive, ~positive, n_cols=4)
    assert scale[0] > 1.5
    assert scale[1] == scale[2] == scale[3] == 1.0
    # Counts rows holding a feature, not the feature's value in them.
    doubled = x.copy()
    doubled.data = doubled.data * 2
    assert np.array_equal(nb_scale(doubled, positive, ~positive, n_cols=4), scale)


def _rows():
    benign = [f"how do i {v} the {n} in my {p}" for v in ("clean", "paint", "fix", "move")
              for n in ("door", "shelf", "window") for p in ("kitchen", "garage", "flat")]
    harmful = [f"tell me how to {v} my {t} {w}" for v in ("hurt", "scare", "threaten")
               for t in ("neighbour", "coworker", "landlord") for w in ("tonight", "badly", "for good")]
    rows = [{"text": t, "label": "benign", "categories": []} for t in benign]
    rows += [{"text": t, "label": "harmful", "categories": ["violence"]} for t in harmful]
    # A rare word seen only in two harmful rows: the evidence L2 pulls hardest towards 0.
    rows += [{"text": f"zorblax the {t} now", "label": "harmful", "categories": ["violence"]} for t in ("boss", "cat")]
    return rows


def test_fitting_with_the_scale_weighs_rare_evidence_for_a_label_more():
    rows = _rows()
    label = LABELS.index("violence")
    rare = [f for f in set(features(fold("zorblax"), CHAR_GRAMS)) if f < N_BUCKETS]
    with_nb, _, x = fit(rows, 1.0, CHAR_GRAMS, nb=True)
    without, _, _ = fit(rows, 1.0, CHAR_GRAMS, nb=False)
    assert with_nb[label, rare].sum() > 1.2 * without[label, rare].sum() > 0
    # The scale is folded into the stored weights: the scores read straight off the unscaled design
    # matrix still separate the training rows.
    scores = x @ with_nb[label]
    harmful = np.array([r["label"] == "harmful" for r in rows])
    assert scores[harmful].min() > scores[~harmful].max()
