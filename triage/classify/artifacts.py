"""Model files: a joblib artifact next to a manifest, read back only after checks.

Unpickling runs code, so an artifact is only unpickled once its sha256 equals the one its
manifest records (written by this project when it trained the model), and its feature
schema is the one this code produces. skops was tried first: it rebuilds estimators without
pickle, but it serialises a fitted vocabulary term by term, which took minutes for the
ticket model's; see docs/models.md. The manifest is replaced last and atomically, so a
reader sees either the old model or the new one, never half of each.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import joblib
import msgspec
import numpy as np
import scipy.sparse as sp
import sklearn
from numpy.typing import NDArray
from sklearn.pipeline import FeatureUnion, Pipeline

from triage.classify.datasets import Dataset, file_sha256
from triage.classify.estimators import ModelSpec
from triage.classify.features import SCHEMA_IDS, FeatureKind, documents
from triage.classify.values import EvalReport, TriageInput


class ModelLoadError(Exception):
    """A model file that must not be served; the message names the file and the mismatch."""


class StaleModel(ModelLoadError):
    """A model another version of triaged or of scikit-learn wrote (manifest layout, feature
    schema, estimator format): unusable here, but no sign that anyone tampered with it, so a
    deployment may fall back to the shipped model and retrain."""


class DataSource(msgspec.Struct, frozen=True, kw_only=True):
    dataset: str
    file: str
    sha256: str
    licence: str
    attribution: str
    train_n: int
    folds: int
    test_n: int


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    version: str
    created: str
    summary: str
    artifact: str
    artifact_sha256: str
    format: str
    feature_schema: str
    labels: list[str]
    threshold: float
    precision_target: float
    sklearn_version: str
    data: DataSource
    corrections: int
    test_metrics: EvalReport


@dataclass(frozen=True, slots=True)
class LoadedModel:
    manifest: Manifest
    feature: FeatureKind
    estimator: Any

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.estimator.classes_]

    def proba(self, items: Sequence[TriageInput]) -> NDArray[np.float64]:
        """Class probabilities per item, columns in ``classes`` order.

        Pipelines are stepped through here rather than by ``Pipeline.predict_proba``: the
        feature union's parallel dispatch costs milliseconds per call even with one job,
        more than the whole prediction of a single incident. Equal results are tested.
        """
        docs = documents(self.feature, items)
        if not isinstance(self.estimator, Pipeline):
            return np.asarray(self.estimator.predict_proba(docs))
        x: Any = docs
        for _, step in self.estimator.steps[:-1]:
            if isinstance(step, FeatureUnion):
                x = sp.hstack([part.transform(x) for _, part in step.transformer_list], "csr")
            else:
                x = step.transform(x)
        return np.asarray(self.estimator.steps[-1][1].predict_proba(x))


def manifest_path(models_dir: Path, name: str) -> Path:
    return models_dir / f"{name}.manifest.json"


def card_path(models_dir: Path, name: str) -> Path:
    return models_dir / f"{name}.md"


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def write_model(
    out_dir: Path,
    spec: ModelSpec,
    estimator: Any,
    *,
    dataset: Dataset,
    threshold: float,
    created: datetime,
    corrections: int,
    metrics_for: Any,
) -> Manifest:
    """Write artifact, then card, then manifest; ``metrics_for(version)`` gives the test
    figures, which name the version the artifact's hash decides."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{spec.name}.", suffix=".joblib")
    os.close(fd)
    try:
        joblib.dump(estimator, tmp, compress=("zlib", 6))
        digest = file_sha256(Path(tmp))
        version = f"{created:%Y.%m.%d}-{digest[:8]}"
        test_metrics = metrics_for(version)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    artifact = f"{spec.name}-{version}.joblib"
    os.chmod(tmp, 0o644)
    os.replace(tmp, out_dir / artifact)
    manifest = Manifest(
        name=spec.name,
        version=version,
        created=created.isoformat(),
        summary=spec.summary,
        artifact=artifact,
        artifact_sha256=digest,
        format="joblib",
        feature_schema=SCHEMA_IDS[spec.feature],
        labels=[str(c) for c in estimator.classes_],
        threshold=round(threshold, 6),
        precision_target=spec.precision,
        sklearn_version=sklearn.__version__,
        data=DataSource(
            dataset=dataset.name,
            file=f"{dataset.name}/{dataset.path.name}",
            sha256=dataset.sha256,
            licence=dataset.licence,
            attribution=dataset.attribution,
            train_n=len(dataset.train),
            folds=spec.folds,
            test_n=len(dataset.test),
        ),
        corrections=corrections,
        test_metrics=test_metrics,
    )
    _atomic_write(card_path(out_dir, spec.name), model_card(manifest).encode("utf-8"))
    previous = _previous_artifact(out_dir, spec.name)
    _atomic_write(
        manifest_path(out_dir, spec.name), msgspec.json.format(msgspec.json.encode(manifest))
    )
    if previous is not None and previous != artifact:
        (out_dir / previous).unlink(missing_ok=True)
    return manifest


class _Named(msgspec.Struct):
    artifact: str


def _previous_artifact(models_dir: Path, name: str) -> str | None:
    """The artifact the current manifest names, read leniently: a manifest of an older
    layout must not stop a retrain from replacing it (and its artifact)."""
    try:
        named = msgspec.json.decode(manifest_path(models_dir, name).read_bytes(), type=_Named)
    except (OSError, msgspec.DecodeError):
        return None
    return Path(named.artifact).name


def read_manifest(models_dir: Path, name: str) -> Manifest:
    path = manifest_path(models_dir, name)
    try:
        return msgspec.json.decode(path.read_bytes(), type=Manifest)
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{path}: manifest missing") from exc
    except msgspec.DecodeError as exc:
        raise StaleModel(f"{path}: invalid manifest: {exc}") from exc


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def load_model(models_dir: Path, name: str, feature: FeatureKind) -> LoadedModel:
    """The verified model ``name``; raises ``ModelLoadError`` naming file and mismatch."""
    manifest = read_manifest(models_dir, name)
    path = models_dir / manifest.artifact
    expected_schema = SCHEMA_IDS[feature]
    if manifest.feature_schema != expected_schema:
        raise StaleModel(
            f"{manifest_path(models_dir, name)}: feature schema {manifest.feature_schema!r} "
            f"does not match this code's {expected_schema!r}; retrain the model"
        )
    if not path.exists():
        raise ModelLoadError(f"{path}: artifact named by {name}.manifest.json is missing")
    digest = file_sha256(path)
    if digest != manifest.artifact_sha256:
        raise ModelLoadError(
            f"{path}: sha256 {digest} does not match manifest {manifest.artifact_sha256}"
        )
    if _minor(manifest.sklearn_version) != _minor(sklearn.__version__):
        raise StaleModel(
            f"{path}: trained with scikit-learn {manifest.sklearn_version}, this is "
            f"{sklearn.__version__}; retrain (estimators do not cross minor versions)"
        )
    estimator = joblib.load(path)
    if [str(c) for c in estimator.classes_] != manifest.labels:
        raise ModelLoadError(f"{path}: label set differs from {name}.manifest.json")
    return LoadedModel(manifest, feature, estimator)


def _attribution_note(licence: str) -> str:
    if not licence.startswith("CC BY"):
        return ""
    return (
        "\n  This model is derived from that work; whoever redistributes it must keep this"
        "\n  attribution and licence notice (https://creativecommons.org/licenses/by/4.0/)."
    )


def model_card(m: Manifest) -> str:
    """Markdown card: what the model is for, its data and licence, its measured figures."""
    t = m.test_metrics
    rows = "\n".join(
        f"| {label} | {c.precision:.3f} | {c.recall:.3f} | {c.support} |"
        for label, c in sorted(t.per_class.items(), key=lambda kv: -kv[1].support)
    )
    return f"""# Model card: {m.name}

{m.summary}

| | |
| --- | --- |
| version | `{m.version}` |
| created | {m.created} |
| artifact | `{m.artifact}` (joblib, sha256 `{m.artifact_sha256}`, checked before loading) |
| feature schema | `{m.feature_schema}` |
| scikit-learn | {m.sklearn_version} |
| labels | {len(m.labels)}: {", ".join(f"`{label}`" for label in m.labels)} |
| operator corrections in training | {m.corrections} |

## Data and licence
- Source: {m.data.attribution}.
- Licence: {m.data.licence}.{_attribution_note(m.data.licence)}
- File: `../shared/datasets/{m.data.file}` (sha256 `{m.data.sha256}`), split by the fixed
  rule in its README: the model learnt from the {m.data.train_n} rows of the training side,
  its threshold was chosen on out-of-fold predictions of {m.data.folds}-fold cross-validation
  over those rows, and the {m.data.test_n} test rows, never used to choose anything, gave the
  figures below.
- The dataset itself is not part of this repository; only the trained weights are.

## Test figures (fixed test split)
| figure | value |
| --- | --- |
| accuracy | {t.accuracy:.4f} |
| macro-F1 | {t.macro_f1:.4f} |
| top-3 accuracy | {t.top3:.4f} |
| expected calibration error | {t.ece:.4f} |
| confidence threshold | {t.threshold:.4f} |
| coverage at the threshold | {t.coverage:.4f} |
| accuracy on what is covered | {t.covered_accuracy:.4f} |

The threshold is the lowest confidence at which the out-of-fold predictions stayed
{m.precision_target:.0%} accurate; below it triaged does not act on this model alone.

| class | precision | recall | support |
| --- | --- | --- | --- |
{rows}

## Use and limits
See docs/models.md for features, training, evaluation and how to reproduce (`triaged train`).
"""
