"""What each model is: its data, its features, its estimator, and how sure it must be to act.

All are linear models over sparse text or field features: they train in seconds to a couple
of minutes on two cores, answer a batch in milliseconds, and stay small on disk once their
vocabularies are bounded and their weights stored as float32.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import StackingClassifier
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from triage.classify import datasets, metrics
from triage.classify.datasets import Dataset, Example
from triage.classify.features import FeatureKind, documents
from triage.classify.values import TriageInput

CORRECTION_WEIGHT = 20
"""How many base examples one operator correction counts as in a retrain (it is repeated,
which every estimator here accepts): a handful of corrections must be able to outvote the
prior of a corpus of tens of thousands."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model: ``precision`` is the accuracy it must keep on what it decides alone; the
    confidence threshold that achieves it is chosen on out-of-fold predictions of ``folds``-fold
    cross-validation over the README's training side, and the model that ships is then
    fitted on all of that side. ``balance`` also fits per-class offsets on those predictions
    that raise macro-F1 (rare classes the plain argmax never picks). ``correction_field``
    names the operator correction it learns from, and ``kind`` the kind of input (alert,
    ticket; ``None`` for both) it serves. ``whole`` datasets are small enough to be read in
    full even when a sample is asked for: a tenth of the catalogue is a few dozen rules, too
    few to tell a working model from a broken one."""

    name: str
    feature: FeatureKind
    read: Callable[[Path, float | None], Dataset]
    build: Callable[[int], Any]
    precision: float
    augment: bool
    correction_field: str | None
    kind: str | None
    folds: int
    balance: bool
    whole: bool
    summary: str

    def load(self, datasets_dir: Path, sample: float | None = None) -> Dataset:
        """This model's dataset, split by its README's rule; ``sample`` keeps that fraction
        (by hash, train and test alike) unless the dataset is read ``whole``."""
        return self.read(datasets_dir, None if self.whole else sample)


class ShiftedClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A fitted classifier whose probabilities are multiplied by per-class factors
    (``exp(offsets)``) and renormalised: a prior shift that moves decisions towards rare
    classes without refitting. The offsets are fitted on out-of-fold predictions. It is
    built around a fitted classifier, and is an estimator so that it can end a pipeline
    (``fit`` refits the classifier and keeps the offsets)."""

    def __init__(self, classifier: Any, offsets: NDArray[np.float64]) -> None:
        self.classifier = classifier
        self.offsets = offsets

    def fit(self, x: Any, y: Any) -> ShiftedClassifier:
        self.classifier.fit(x, y)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self.classifier, "classes_")

    @property
    def classes_(self) -> NDArray[Any]:
        return np.asarray(self.classifier.classes_)

    def predict_proba(self, x: Any) -> NDArray[np.float64]:
        return metrics.shifted(np.asarray(self.classifier.predict_proba(x)), self.offsets)

    def predict(self, x: Any) -> NDArray[Any]:
        return np.asarray(self.classes_[self.predict_proba(x).argmax(axis=1)])


def with_offsets(estimator: Any, offsets: NDArray[np.float64]) -> Any:
    """``estimator`` with its final classifier shifted; pipelines keep their steps, so
    serving (which steps through them) sees the shift too."""
    if isinstance(estimator, Pipeline):
        name, last = estimator.steps[-1]
        estimator.steps[-1] = (name, ShiftedClassifier(last, offsets))
        return estimator
    return ShiftedClassifier(estimator, offsets)


def _calibrated_svc(seed: int, c: float, class_weight: str | None = None) -> CalibratedClassifierCV:
    """A linear SVM (the strongest fast text classifier here) whose scores become
    probabilities by temperature scaling: one parameter for all classes, so it needs little
    data and serves in one vectorised step. Folds are stratified, so each holds every class
    (``fit`` keeps only classes with at least ``MIN_CLASS_SIZE`` examples): a fold without
    some class gives scores the temperature fit can diverge on."""
    return CalibratedClassifierCV(
        LinearSVC(C=c, class_weight=class_weight, random_state=seed),
        method="temperature",
        cv=StratifiedKFold(3, shuffle=True, random_state=seed),
        ensemble=False,
    )


def _word_and_char(max_words: int | None, max_chars: int | None) -> FeatureUnion:
    """Word n-grams carry meaning; character n-grams carry service names and words the
    training text spelled differently (``postgres``/``postgresql``, ``k8s`` pods)."""
    return FeatureUnion(
        [
            (
                "words",
                TfidfVectorizer(
                    ngram_range=(1, 2),
                    sublinear_tf=True,
                    min_df=2,
                    max_features=max_words,
                    dtype=np.float32,
                ),
            ),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    sublinear_tf=True,
                    min_df=3,
                    max_features=max_chars,
                    dtype=np.float32,
                ),
            ),
        ]
    )


def build_alert_text(seed: int) -> Pipeline:
    return Pipeline(
        [("features", _word_and_char(None, None)), ("clf", _calibrated_svc(seed, 1.0, "balanced"))]
    )


def build_urgency(seed: int) -> Pipeline:
    return Pipeline(
        [
            ("features", _word_and_char(30_000, 20_000)),
            ("clf", _calibrated_svc(seed, 0.1, "balanced")),
        ]
    )


def build_ticket(seed: int) -> Pipeline:
    """SVM stacked with complement naive Bayes, both on word+char TF-IDF computed once: the
    two err on different tickets, and the logistic stacker turns their scores into
    probabilities with one slope per class."""
    stack = StackingClassifier(
        [("svm", LinearSVC(C=0.3, random_state=seed)), ("bayes", ComplementNB(alpha=0.3))],
        final_estimator=LogisticRegression(C=1.0, max_iter=2000),
        cv=KFold(3, shuffle=True, random_state=seed),
    )
    return Pipeline([("features", _word_and_char(60_000, 30_000)), ("clf", stack)])


def build_group(seed: int) -> Pipeline:
    """Binary token presence; tokens seen once in the corpus (a caller with one incident)
    cannot generalise and would only fill the weight matrix, so ``min_df=2``."""
    tokens = CountVectorizer(analyzer=str.split, binary=True, min_df=2, dtype=np.float32)
    return Pipeline([("fields", tokens), ("clf", _calibrated_svc(seed, 0.1))])


SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="alert-category",
        feature="alert-text",
        read=partial(datasets.read_alert_catalogue, target="category"),
        build=build_alert_text,
        precision=0.95,
        augment=True,
        correction_field="category",
        kind="alert",
        folds=5,
        balance=False,
        whole=True,
        summary="Catalogue group (13 slugs) of a monitoring alert from its name, description "
        "and naming labels.",
    ),
    ModelSpec(
        name="alert-service",
        feature="alert-text",
        read=partial(datasets.read_alert_catalogue, target="service"),
        build=build_alert_text,
        precision=0.95,
        augment=True,
        correction_field=None,
        kind=None,
        folds=3,
        balance=False,
        whole=True,
        summary="Catalogue service (PostgreSQL, Kafka, Kubernetes, ...) an alert is about, when "
        "the sender did not say.",
    ),
    ModelSpec(
        name="ticket-category",
        feature="ticket-text",
        read=datasets.read_tickets,
        build=build_ticket,
        precision=0.95,
        augment=False,
        correction_field="category",
        kind="ticket",
        folds=3,
        balance=False,
        whole=False,
        summary="Topic of a ticket a person wrote (8 help-desk groups).",
    ),
    ModelSpec(
        name="urgency",
        feature="ticket-text",
        read=datasets.read_endava_urgency,
        build=build_urgency,
        precision=0.95,
        augment=False,
        correction_field=None,
        kind=None,
        folds=5,
        balance=True,
        whole=False,
        summary="Operators' urgency code (0 most urgent .. 3) of a free-text ticket, for "
        "priority when the sender gave no severity.",
    ),
    ModelSpec(
        name="resolver-group",
        feature="group-tokens",
        read=datasets.read_incident_log,
        build=build_group,
        precision=0.90,
        augment=False,
        correction_field="group",
        kind=None,
        folds=5,
        balance=False,
        whole=False,
        summary="Resolver group from what is known when an incident opens (fields, labels, "
        "text); operators' reassignments extend it.",
    ),
)
SPEC_BY_NAME = {spec.name: spec for spec in SPECS}


def training_examples(spec: ModelSpec, examples: Sequence[Example]) -> list[Example]:
    """Alert models also learn from the name alone and the description alone, so an alert
    that lacks one (no ``alertname``, or only a summary) still reads like training data."""
    if not spec.augment:
        return list(examples)
    out = list(examples)
    for ex in examples:
        if ex.item.description:
            out.append(Example(TriageInput(description=ex.item.description), ex.label, ex.key))
        out.append(Example(TriageInput(title=ex.item.title), ex.label, ex.key))
    return out


MIN_CLASS_SIZE = 3
"""Labels with fewer base examples are left out: calibration needs one per fold, and a team
seen twice in a year of incidents is no answer to predict. Corrections are always kept."""


def fit(
    spec: ModelSpec,
    examples: Sequence[Example],
    corrections: Sequence[tuple[TriageInput, str]] = (),
    seed: int = 0,
) -> Any:
    """Train ``spec``'s estimator on base examples plus weighted corrections."""
    sizes = Counter(ex.label for ex in examples)
    base = training_examples(spec, [ex for ex in examples if sizes[ex.label] >= MIN_CLASS_SIZE])
    repeated = [pair for pair in corrections for _ in range(CORRECTION_WEIGHT)]
    items = [ex.item for ex in base] + [item for item, _ in repeated]
    labels = [ex.label for ex in base] + [label for _, label in repeated]
    estimator = spec.build(seed)
    estimator.fit(documents(spec.feature, items), labels)
    shrink(estimator)
    return estimator


def shrink(estimator: Any) -> None:
    """Store linear and naive Bayes weights as float32 (half the file, no change in any
    decision we measured) and drop what prediction never reads."""
    if hasattr(estimator, "stop_words_"):
        # Only the terms max_features/min_df dropped: megabytes, and never read to predict.
        del estimator.stop_words_
    if hasattr(estimator, "_stop_words_id"):
        # A memory address cached by the vectoriser (recomputed on use): it would make two
        # trainings on the same data write different bytes, so different versions.
        del estimator._stop_words_id
    if isinstance(estimator, ComplementNB):
        # Raw counts, kept by scikit-learn for partial_fit only; prediction reads the
        # log-probabilities derived from them.
        del estimator.feature_count_, estimator.feature_all_
    for weights in ("coef_", "feature_log_prob_"):
        if isinstance(getattr(estimator, weights, None), np.ndarray):
            setattr(estimator, weights, getattr(estimator, weights).astype(np.float32))
    children: list[Any] = []
    if isinstance(estimator, Pipeline):
        children = [step for _, step in estimator.steps]
    elif isinstance(estimator, StackingClassifier):
        children = [*estimator.estimators_, estimator.final_estimator_]
    elif isinstance(estimator, FeatureUnion):
        children = [part for _, part in estimator.transformer_list]
    elif isinstance(estimator, CalibratedClassifierCV):
        children = [c.estimator for c in estimator.calibrated_classifiers_]
    for child in children:
        shrink(child)
