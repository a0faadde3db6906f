"""Model files: what is written, and every way a file is refused on load."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from triage.classify import ModelLoadError
from triage.classify.artifacts import load_model, manifest_path, read_manifest, write_model
from triage.classify.datasets import Dataset, Example
from triage.classify.estimators import SPEC_BY_NAME
from triage.classify.training import publish, train_spec
from triage.classify.values import TriageInput

WORDS = {
    "databases": ["postgres replication lag", "mysql too many connections", "redis evicting keys"],
    "storage": ["ceph osd down", "zfs pool degraded", "minio disk offline"],
    "orchestrators": [
        "kubernetes pod crash looping",
        "node not ready",
        "deployment replicas missing",
    ],
}


def examples(offset: int) -> list[Example]:
    return [
        Example(TriageInput(title=f"{text} {n}", description=text), label, f"{label}{n}{offset}")
        for label, texts in WORDS.items()
        for n in range(4)
        for text in texts
    ]


def synthetic_dataset(root: Path) -> Dataset:
    data = root / "data.txt"
    data.write_text("synthetic", encoding="utf-8")
    return Dataset(
        "synthetic",
        data,
        "0" * 64,
        "CC0",
        "written for this test",
        examples(0) + examples(1),
        examples(2),
    )


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    dataset = synthetic_dataset(root)
    spec = SPEC_BY_NAME["alert-category"]
    trained = train_spec(spec, dataset)
    publish(trained, dataset, root / "out", created=datetime(2026, 1, 2, tzinfo=UTC))
    return root / "out"


def test_written_files_describe_the_model(models_dir: Path) -> None:
    manifest = read_manifest(models_dir, "alert-category")
    assert manifest.version.startswith("2026.01.02-")
    assert manifest.artifact == f"alert-category-{manifest.version}.joblib"
    assert manifest.labels == sorted(WORDS)
    assert manifest.feature_schema == "alert-text/v1"
    assert manifest.data.dataset == "synthetic"
    assert manifest.test_metrics.n == len(examples(2))
    card = (models_dir / "alert-category.md").read_text(encoding="utf-8")
    assert "Licence: CC0" in card
    assert manifest.artifact_sha256 in card


def test_loaded_model_predicts(models_dir: Path) -> None:
    model = load_model(models_dir, "alert-category", "alert-text")
    proba = model.proba([TriageInput(description="ceph osd down")])
    assert model.classes[int(proba.argmax())] == "storage"


def copy_dir(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_tampered_artifact_is_refused_naming_file_and_hash(
    models_dir: Path, tmp_path: Path
) -> None:
    work = copy_dir(models_dir, tmp_path / "m")
    manifest = read_manifest(work, "alert-category")
    artifact = work / manifest.artifact
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    with pytest.raises(ModelLoadError, match=rf"{manifest.artifact}: sha256 .* does not match"):
        load_model(work, "alert-category", "alert-text")


def test_other_feature_schema_is_refused(models_dir: Path, tmp_path: Path) -> None:
    work = copy_dir(models_dir, tmp_path / "m")
    path = manifest_path(work, "alert-category")
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["feature_schema"] = "alert-text/v0"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ModelLoadError, match=r"feature schema 'alert-text/v0' does not match"):
        load_model(work, "alert-category", "alert-text")


def test_missing_or_broken_manifest_is_refused(models_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="manifest missing"):
        load_model(tmp_path, "alert-category", "alert-text")
    work = copy_dir(models_dir, tmp_path / "m")
    for broken in ("{}", '{"name": "alert-category", "version"', "\x00\xff"):
        manifest_path(work, "alert-category").write_text(broken, encoding="utf-8")
        with pytest.raises(
            ModelLoadError, match=r"alert-category\.manifest\.json: invalid manifest"
        ):
            load_model(work, "alert-category", "alert-text")


def test_missing_artifact_is_refused(models_dir: Path, tmp_path: Path) -> None:
    work = copy_dir(models_dir, tmp_path / "m")
    (work / read_manifest(work, "alert-category").artifact).unlink()
    with pytest.raises(ModelLoadError, match="is missing"):
        load_model(work, "alert-category", "alert-text")


def test_other_scikit_learn_minor_is_refused(models_dir: Path, tmp_path: Path) -> None:
    work = copy_dir(models_dir, tmp_path / "m")
    path = manifest_path(work, "alert-category")
    manifest = read_manifest(work, "alert-category")
    path.write_bytes(
        msgspec.json.encode(msgspec.structs.replace(manifest, sklearn_version="0.1.0"))
    )
    with pytest.raises(ModelLoadError, match=r"scikit-learn 0\.1\.0"):
        load_model(work, "alert-category", "alert-text")


def test_retraining_replaces_a_manifest_of_an_older_layout(
    models_dir: Path, tmp_path: Path
) -> None:
    work = copy_dir(models_dir, tmp_path / "m")
    old = read_manifest(work, "alert-category")
    raw = json.loads(manifest_path(work, "alert-category").read_text(encoding="utf-8"))
    del raw["data"]["folds"]
    manifest_path(work, "alert-category").write_text(json.dumps(raw), encoding="utf-8")
    spec = SPEC_BY_NAME["alert-category"]
    dataset = synthetic_dataset(tmp_path)
    new = publish(
        train_spec(spec, dataset, seed=1), dataset, work, created=datetime(2026, 2, 3, tzinfo=UTC)
    )
    assert new.version != old.version
    assert not (work / old.artifact).exists()
    assert load_model(work, "alert-category", "alert-text").manifest == new


def test_failed_evaluation_leaves_no_artifact_behind(tmp_path: Path) -> None:
    spec = SPEC_BY_NAME["alert-category"]
    dataset = synthetic_dataset(tmp_path)
    trained = train_spec(spec, dataset)

    def broken(version: str) -> None:
        raise RuntimeError(f"evaluating {version} failed")

    with pytest.raises(RuntimeError, match="evaluating"):
        write_model(
            tmp_path / "out",
            spec,
            trained.estimator,
            dataset=dataset,
            threshold=trained.threshold,
            created=datetime(2026, 1, 2, tzinfo=UTC),
            corrections=0,
            metrics_for=broken,
        )
    assert list((tmp_path / "out").iterdir()) == []
