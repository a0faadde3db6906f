"""What a non-editable install (``pip install .``) ships, and that the daemon finds it.

setuptools lists packages and data files explicitly in pyproject.toml, so a new
subpackage or data folder left out of it is missing from a wheel although every test of
the editable checkout passes. pip puts data files under ``<prefix>/share/triaged/``;
``daemon.config.shipped`` looks there when the source tree is not beside the packages.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from daemon.config import default_config_path, default_models_dir, shipped
from tests.conftest import REPO

SETUPTOOLS: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"][
    "setuptools"
]


def test_every_package_of_the_tree_is_in_the_distribution() -> None:
    tree = {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in ("daemon", "triage", "routing")
        for init in (REPO / top).rglob("__init__.py")
    }
    assert set(SETUPTOOLS["packages"]) == tree


def test_config_and_models_ship_as_data_files() -> None:
    data_files: dict[str, list[str]] = SETUPTOOLS["data-files"]
    for folder in ("config", "models"):
        patterns = data_files[f"share/triaged/{folder}"]
        installed = {path for pattern in patterns for path in REPO.glob(pattern)}
        files = {path for path in (REPO / folder).iterdir() if path.is_file()}
        assert files, f"{folder}/ is empty"
        assert files <= installed, f"not shipped: {sorted(p.name for p in files - installed)}"


def test_every_models_manifest_names_a_shipped_artifact() -> None:
    manifests = sorted((REPO / "models").glob("*.manifest.json"))
    assert manifests
    for manifest in manifests:
        artifact = json.loads(manifest.read_text())["artifact"]
        assert (REPO / "models" / artifact).is_file(), (manifest.name, artifact)


def test_the_source_tree_wins_in_a_checkout() -> None:
    assert default_config_path() == REPO / "config" / "triaged.yaml"
    assert default_models_dir() == REPO / "models"


def _install(prefix: Path) -> None:
    """Data files laid out as pip installs them under ``prefix``."""
    (prefix / "share" / "triaged" / "config").mkdir(parents=True)
    (prefix / "share" / "triaged" / "config" / "triaged.yaml").write_text("{}\n")
    (prefix / "share" / "triaged" / "models").mkdir(parents=True)
    (prefix / "share" / "triaged" / "models" / "urgency.manifest.json").write_text("{}\n")


def test_an_installed_copy_finds_the_data_under_its_prefix(tmp_path: Path) -> None:
    venv, user = tmp_path / "venv", tmp_path / "user"
    site_packages = venv / "lib" / "python3.11" / "site-packages"
    (site_packages / "config").mkdir(parents=True)  # another distribution's package
    (site_packages / "models").mkdir()
    _install(venv)
    prefixes = (str(venv), str(user))
    assert shipped("config", "triaged.yaml", source_root=site_packages, prefixes=prefixes) == (
        venv / "share" / "triaged" / "config"
    )
    assert shipped("models", "*.manifest.json", source_root=site_packages, prefixes=prefixes) == (
        venv / "share" / "triaged" / "models"
    )


def test_a_user_install_finds_the_data_under_the_user_base(tmp_path: Path) -> None:
    system, user = tmp_path / "usr", tmp_path / "home" / ".local"
    _install(user)
    found = shipped(
        "models",
        "*.manifest.json",
        source_root=tmp_path / "nowhere",
        prefixes=(str(system), str(user)),
    )
    assert found == user / "share" / "triaged" / "models"


def test_nothing_found_names_the_prefix_path(tmp_path: Path) -> None:
    found = shipped("config", "triaged.yaml", source_root=tmp_path, prefixes=(str(tmp_path / "p"),))
    assert found == tmp_path / "p" / "share" / "triaged" / "config"
