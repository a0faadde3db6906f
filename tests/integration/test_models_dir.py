"""The deployment's models directory, model by model: seeded from the shipped models before
a retrain, served where it has a model, and set aside where another version wrote it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import structlog

from daemon.config import default_models_dir
from daemon.metrics import Metrics
from daemon.triage_models import deployment_models_dir, load_triager, seed_deployment_dir
from tests.conftest import SettingsFactory
from triage.classify import ModelLoadError
from triage.classify.artifacts import manifest_path
from triage.classify.estimators import SPECS


def copy_model(name: str, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    for path in default_models_dir().glob(f"{name}*"):
        shutil.copyfile(path, into / path.name)


def rewrite_manifest(models_dir: Path, name: str, **changes: str) -> None:
    path = manifest_path(models_dir, name)
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def test_seeding_fills_in_what_is_missing_and_sets_aside_what_is_stale(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    settings = make_settings(data_dir=str(tmp_path / "data"))
    own = deployment_models_dir(settings)
    assert own == tmp_path / "data" / "models"
    copy_model("urgency", own)
    kept = manifest_path(own, "urgency").read_bytes()
    copy_model("resolver-group", own)
    rewrite_manifest(own, "resolver-group", feature_schema="group-tokens/v0")
    assert seed_deployment_dir(settings) == own
    assert all(manifest_path(own, spec.name).exists() for spec in SPECS)
    assert manifest_path(own, "urgency").read_bytes() == kept, "a servable model is kept"
    assert (
        json.loads(manifest_path(own, "resolver-group").read_text())["feature_schema"]
        == (
            json.loads(manifest_path(default_models_dir(), "resolver-group").read_text())[
                "feature_schema"
            ]
        )
    )
    assert (own / "stale" / "resolver-group.manifest.json").exists()
    assert not list(own.glob(".*")), "no staging file left behind"


def test_the_deployments_model_is_served_and_a_stale_one_gives_way_to_the_shipped(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    settings = make_settings(data_dir=str(tmp_path / "data"))
    own = deployment_models_dir(settings)
    copy_model("urgency", own)
    copy_model("alert-category", own)
    rewrite_manifest(own, "alert-category", sklearn_version="0.24.2")
    with structlog.testing.capture_logs() as logs:
        ref = load_triager(settings, Metrics())
    assert ref.served["urgency"] == own
    assert ref.served["alert-category"] == default_models_dir()
    assert ref.served["ticket-category"] == default_models_dir()
    stale = [e for e in logs if e["event"] == "model_stale_serving_shipped"]
    assert [e["model"] for e in stale] == ["alert-category"]
    assert "scikit-learn 0.24.2" in stale[0]["error"]


def test_a_tampered_model_in_the_deployment_directory_is_refused(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    settings = make_settings(data_dir=str(tmp_path / "data"))
    own = deployment_models_dir(settings)
    copy_model("urgency", own)
    artifact = next(own.glob("urgency-*.joblib"))
    artifact.write_bytes(artifact.read_bytes()[:-1])
    with pytest.raises(ModelLoadError, match="does not match manifest"):
        load_triager(settings, Metrics())
