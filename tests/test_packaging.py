"""The wheel carries the top-level assets/ and presets/ folders where studio.paths looks."""

import subprocess
import sys
import zipfile
from pathlib import Path

from studio import paths

REPO = Path(paths.__file__).resolve().parents[1]


def test_wheel_packs_assets_and_presets(tmp_path: Path) -> None:
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*pip, "-w", str(tmp_path), str(REPO)], check=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("studio-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packed = paths.PACKAGED_ROOT.relative_to(paths.PACKAGE_DIR.parent).as_posix()
    for folder in ("assets", "presets"):
        shipped = {
            f.relative_to(REPO).as_posix()
            for f in (REPO / folder).rglob("*")
            if f.is_file() and "__pycache__" not in f.parts
        }
        assert shipped, folder
        assert {f"{packed}/{name}" for name in shipped} <= names
