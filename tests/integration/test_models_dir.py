"""The deployment's models directory: seeded from the shipped models before a retrain."""

from __future__ import annotations

from pathlib import Path

from daemon.config import default_models_dir
from daemon.triage_models import (
    active_models_dir,
    deployment_models_dir,
    is_complete,
    seed_deployment_dir,
)
from tests.conftest import SettingsFactory


def test_seeding_copies_the_shipped_set_and_clears_a_dead_retrains_leftovers(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    settings = make_settings(data_dir=str(tmp_path / "data"))
    own = deployment_models_dir(settings)
    assert own == tmp_path / "data" / "models"
    assert active_models_dir(settings) == default_models_dir(), "nothing retrained yet"
    leftover = own.with_name(".models.seeding-12345")
    leftover.mkdir(parents=True)
    (leftover / "half.joblib").write_bytes(b"\x00")
    own.mkdir()
    (own / "stray.txt").write_text("an incomplete set is replaced whole")
    assert seed_deployment_dir(settings) == own
    assert is_complete(own)
    assert not leftover.exists()
    assert not (own / "stray.txt").exists()
    assert active_models_dir(settings) == own
    shipped = sorted(p.name for p in default_models_dir().iterdir())
    assert sorted(p.name for p in own.iterdir()) == shipped
