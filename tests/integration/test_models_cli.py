"""``triaged train`` and ``triaged eval`` through the real CLI, on a sample of two models,
and every way they refuse their input."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import msgspec
import pytest

from daemon.cli import main
from triage.classify.artifacts import read_manifest

REPO = Path(__file__).resolve().parents[2]
DATASETS = REPO.parent / "shared" / "datasets"
ONLY = "resolver-group,urgency"
needs_datasets = pytest.mark.skipif(
    not DATASETS.is_dir(), reason=f"shared datasets not found at {DATASETS}"
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    if not DATASETS.is_dir():
        pytest.skip(f"shared datasets not found at {DATASETS}")
    out = tmp_path_factory.mktemp("models")
    args = ["train", "--datasets", str(DATASETS), "--out", str(out), "--sample", "0.1"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main([*args, "--only", ONLY]) == 0
    return out, printed.getvalue()


@pytest.mark.dataset
@needs_datasets
def test_train_writes_the_named_models_and_reports_them(trained: tuple[Path, str]) -> None:
    out, printed = trained
    assert sorted(p.name for p in out.glob("*.manifest.json")) == [
        "resolver-group.manifest.json",
        "urgency.manifest.json",
    ]
    for name in ONLY.split(","):
        manifest = read_manifest(out, name)
        assert (out / manifest.artifact).is_file()
        assert (out / f"{name}.md").is_file()
        assert f"{name} {manifest.version} [test, n={manifest.test_metrics.n}]" in printed
    assert "trained 2 models into" in printed


@pytest.mark.dataset
@needs_datasets
def test_eval_prints_every_figure_per_model(
    trained: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = trained
    args = ["eval", "--datasets", str(DATASETS), "--models", str(out), "--sample", "0.1"]
    assert main([*args, "--only", ONLY]) == 0
    text = capsys.readouterr().out
    for figure in ("accuracy", "macro-F1", "top-3", "ECE", "threshold", "coverage"):
        assert text.count(figure) >= 2, figure
    assert "class  precision  recall  support" in text
    assert "Group 70" in text  # per-class rows of the resolver model

    assert main([*args, "--only", ONLY, "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert sorted(reports) == ["resolver-group", "urgency"]
    for name in ONLY.split(","):
        recorded = msgspec.to_builtins(read_manifest(out, name).test_metrics)
        for figure in ("n", "accuracy", "macro_f1", "top3", "threshold", "coverage"):
            assert reports[name][figure] == pytest.approx(recorded[figure], abs=1e-4), figure
    assert reports["resolver-group"]["accuracy"] >= 0.68
    assert reports["urgency"]["accuracy"] >= 0.92


@pytest.mark.dataset
@needs_datasets
def test_eval_refuses_a_tampered_model(
    trained: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = trained
    for f in out.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    artifact = tmp_path / read_manifest(tmp_path, "urgency").artifact
    artifact.write_bytes(artifact.read_bytes()[:-1])
    args = ["eval", "--datasets", str(DATASETS), "--models", str(tmp_path), "--only", "urgency"]
    assert main(args) == 1
    assert f"{artifact}: sha256" in capsys.readouterr().err


def test_eval_without_models_names_the_missing_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["eval", "--datasets", str(tmp_path), "--models", str(tmp_path / "none")])
    assert code == 1
    assert "alert-category.manifest.json: manifest missing" in capsys.readouterr().err


def test_missing_datasets_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("train", "eval"):
        assert main([command, "--datasets", str(tmp_path / "absent")]) == 2
        assert f"datasets directory {tmp_path / 'absent'} not found" in capsys.readouterr().err
    assert not (tmp_path / "absent").exists()


def test_unknown_model_name_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["train", "--datasets", str(tmp_path), "--out", str(out), "--only", "urgency,nope"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--only: unknown model nope" in err
    assert "resolver-group" in err  # the known names are listed
    assert not out.exists()


@pytest.mark.parametrize("sample", ["0", "1.5", "-0.1", "tenth"])
def test_sample_outside_zero_to_one_is_refused(
    sample: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["train", "--sample", sample])
    assert exited.value.code == 2
    assert "--sample" in capsys.readouterr().err


def test_missing_dataset_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "--datasets", str(tmp_path), "--out", str(tmp_path / "o"), "--only", "urgency"]
    assert main(args) == 2
    assert "all_tickets_head5431.csv.gz" in capsys.readouterr().err
