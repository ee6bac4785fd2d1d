"""The wheel carries the embedded models, presets, single-file configs and desktop files where
studio.core.paths finds them once installed, and the `studio` entry point.

The wheel is built (without build isolation, offline) from a copy of the files git would ship,
so a stale build/ folder in the checkout cannot hide a missing file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from studio import __version__
from studio.core import paths
from studio.core.models import EMBEDDED_STUDENT, EMBEDDED_TEACHER
from studio.desktop import APP_ID, DESKTOP_FILES

REPO = Path(paths.__file__).resolve().parents[2]
PACKED = "studio/_data"
SHIPPED = {"assets": "assets", "presets": "presets", "packaging/linux": "linux"}


def _source_files() -> list[str]:
    """The files of the checkout that a clone would have (tracked, or new and not ignored)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("the wheel test copies the checkout with git, which is not available here")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (REPO / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in _source_files():
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    out = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*pip, "-w", str(out), str(source)], check=True, cwd=out)
    (built,) = out.glob("studio-*.whl")
    return built


def _shipped_files() -> dict[str, Path]:
    """Each data file the wheel must hold (its name in the wheel) and its source file."""
    wanted = {}
    for folder, packed in SHIPPED.items():
        for source in (REPO / folder).rglob("*"):
            if source.is_file() and "__pycache__" not in source.parts:
                relative = source.relative_to(REPO / folder).as_posix()
                wanted[f"{PACKED}/{packed}/{relative}"] = source
    return wanted


def test_the_wheel_packs_every_data_file_whole(wheel: Path) -> None:
    infos = {info.filename: info for info in zipfile.ZipFile(wheel).infolist()}
    wanted = _shipped_files()
    assert wanted
    missing = sorted(set(wanted) - set(infos))
    assert not missing
    for name, source in wanted.items():
        assert infos[name].file_size == source.stat().st_size, name
    assert not [n for n in infos if n.startswith(PACKED) and ("__pycache__" in n or ".pyc" in n)]


def test_the_wheel_holds_the_models_presets_configs_and_desktop_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    models = f"{PACKED}/assets/models"
    assert f"{models}/{EMBEDDED_TEACHER}/unet/diffusion_pytorch_model.safetensors" in names
    assert f"{models}/{EMBEDDED_TEACHER}/model_index.json" in names
    assert f"{models}/{EMBEDDED_STUDENT}/pytorch_lora_weights.safetensors" in names
    assert f"{models}/{EMBEDDED_STUDENT}/studio_adapter.json" in names
    assert {f"{PACKED}/presets/model-pairs.json", f"{PACKED}/presets/recipes.json"} <= names
    for family in ("sd15", "sd21", "sdxl"):
        assert f"{PACKED}/assets/single-file/{family}/model_index.json" in names
    assert f"{PACKED}/assets/single-file/clip-tokenizer/vocab.json" in names
    for item in DESKTOP_FILES:
        assert f"{PACKED}/linux/{item.source}" in names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/"))]


def test_the_wheel_declares_the_studio_command_and_version(wheel: Path) -> None:
    assert wheel.name.startswith(f"studio-{__version__}-")
    archive = zipfile.ZipFile(wheel)
    (entry_points,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = archive.read(entry_points).decode()
    assert "[console_scripts]" in text
    assert "studio = studio.cli:main" in text


def test_an_installed_wheel_finds_its_data_inside_the_package(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), wheel],
        check=True,
    )
    probe = (
        "from studio import desktop; from studio.core import paths; "
        "print(paths.CHECKOUT_ROOT); print(paths.models_dir()); print(paths.presets_dir()); "
        "print(paths.desktop_dir()); print(desktop.icon_path().is_file())"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    lines = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, check=True, capture_output=True
    ).stdout.decode()
    checkout, models, presets, desktop_files, icon = lines.split("\n")[:5]
    packed = site / "studio" / "_data"
    assert checkout == "None"
    assert Path(models) == packed / "assets" / "models"
    assert (Path(models) / EMBEDDED_TEACHER / "model_index.json").is_file()
    assert Path(presets) == packed / "presets"
    assert (Path(desktop_files) / f"{APP_ID}.desktop").is_file()
    assert icon == "True"
