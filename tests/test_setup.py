"""Set-up that stays true: exact pins, a lock file made by a real tool, a CI that installs from nothing, and a
wheel that finds its recipes and shipped teachers from any working directory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCK = (ROOT / "requirements.lock").read_text()
TORCH_TRIO = {"torch": "2.11.0", "torchaudio": "2.11.0", "torchvision": "0.26.0"}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def locked() -> dict[str, str]:
    """``{name: version}`` of every ``name==version`` line of requirements.lock."""
    return {m[1].lower(): m[2] for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", LOCK, re.M)}


def test_torch_trio_is_pinned_exactly_in_pyproject_and_lock():
    dependencies = PYPROJECT["project"]["dependencies"]
    for name, version in TORCH_TRIO.items():
        assert f"{name}=={version}" in dependencies, f"pyproject must pin {name}=={version} exactly"
        assert locked()[name] == version


def test_lock_names_the_command_that_made_it_and_covers_every_dependency():
    header = LOCK.splitlines()[:3]
    assert any("uv pip compile pyproject.toml" in line for line in header), header
    extras = PYPROJECT["project"]["optional-dependencies"]
    wanted = PYPROJECT["project"]["dependencies"] + [r for name in ("test", "yamnet", "export") for r in extras[name]]
    missing = {_name(r) for r in wanted if not r.startswith("kdzoo")} - set(locked())
    assert not missing, f"requirements.lock lacks {sorted(missing)}: re-run the command at its top"


def test_ci_creates_a_fresh_venv_and_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    setup_block = readme.split("```", 2)[1]
    test_command = next(line for line in setup_block.splitlines() if "pytest" in line).split("#")[0].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci
    venv_at, install_at = ci.index("-m venv"), ci.index(test_command)
    assert venv_at < ci.index("source \"$venv/bin/activate\"") < install_at


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory) -> Path:
    """The package built as a wheel from a copy of the checkout and installed (no deps) into a folder."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    for item in ("kdzoo", "recipes", "checkpoints", "pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        copy = shutil.copytree if (ROOT / item).is_dir() else shutil.copyfile
        copy(ROOT / item, source / item, **({"ignore": shutil.ignore_patterns("runs", "cache", "__pycache__")}
                                            if (ROOT / item).is_dir() else {}))
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    built = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(work / "dist"),
                            str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (work / "dist").glob("kdzoo-*.whl")
    installed = subprocess.run([*pip, "install", "--no-deps", "--target", str(work / "site"), str(wheel)],
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-3000:]
    return work / "site"


def _run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_wheel_carries_recipes_and_shipped_teachers(wheel_site):
    shipped = wheel_site / "kdzoo" / "_shipped"
    assert {p.name for p in (ROOT / "recipes").glob("*.yaml")} == {p.name for p in (shipped / "recipes").glob("*")}
    for teacher in (ROOT / "checkpoints" / "teachers").glob("*.pt"):
        assert (shipped / "checkpoints" / "teachers" / teacher.name).read_bytes() == teacher.read_bytes()


def test_wheel_install_finds_recipes_and_teachers_from_another_folder(wheel_site, tmp_path):
    listed = _run_installed(wheel_site, tmp_path, "-m", "kdzoo", "recipes")
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^kd_demo\s+\S", listed.stdout, re.M)
    code = ("import kdzoo; from kdzoo.models.teacher import resolve_checkpoint; "
            "print(kdzoo.__file__); print(resolve_checkpoint('checkpoints/teachers/teacher_demo.pt'))")
    found = _run_installed(wheel_site, tmp_path, "-c", code)
    assert found.returncode == 0, found.stderr
    package_file, teacher = found.stdout.split()
    assert Path(package_file).is_relative_to(wheel_site)  # the wheel, not the checkout, was imported
    assert Path(teacher).is_relative_to(wheel_site / "kdzoo" / "_shipped") and Path(teacher).is_file()


def test_wheel_install_runs_the_main_job_from_another_folder(wheel_site, tmp_path):
    from kdzoo.data.synth import synth_ust

    corpus = tmp_path / "corpus"
    synth_ust(corpus, clips=12, seed=0, clip_seconds=2.0, speech="formant", workers=1, progress=False)
    run = _run_installed(
        wheel_site, tmp_path, "-m", "kdzoo", "fit", "--recipe", "kd_demo", "--data.init_args.root", str(corpus),
        "--data.init_args.clips", "12", "--data.init_args.test_clips", "0", "--data.init_args.clip_seconds", "2.0",
        "--trainer.max_epochs", "1",
        "--trainer.limit_train_batches", "1", "--trainer.enable_progress_bar", "false")
    assert run.returncode == 0, run.stderr[-3000:]
    (summary,) = (tmp_path / "checkpoints" / "runs" / "kd_demo").glob("version_*/summary.json")
    assert "test/micro_auprc" in summary.read_text()


def test_missing_teacher_error_names_every_place_looked_in(tmp_path, monkeypatch):
    from kdzoo.models.teacher import resolve_checkpoint

    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"looked in: .*nope\.pt.*nope\.pt") as error:
        resolve_checkpoint("checkpoints/teachers/nope.pt")
    assert str(tmp_path) in str(error.value)
