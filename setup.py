"""Packs the data folders into the wheel under `studio/_data/` (see studio/paths.py)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# source folder in the checkout -> folder under studio/_data
DATA_FOLDERS = {"assets": "assets", "presets": "presets", "packaging/linux": "linux"}
SKIPPED = {"__pycache__", ".pytest_cache"}


class BuildWithData(build_py):
    """build_py that also copies the data folders beside the package (see studio/paths.py).

    The packed folder is emptied first, so a file deleted from the checkout never survives in a
    reused build/ directory.
    """

    def run(self) -> None:
        super().run()
        root = Path(__file__).resolve().parent
        packed = Path(self.build_lib, "studio", "_data")
        shutil.rmtree(packed, ignore_errors=True)
        for name, target_name in DATA_FOLDERS.items():
            for source in sorted((root / name).rglob("*")):
                relative = source.relative_to(root / name)
                if not source.is_file() or SKIPPED & set(relative.parts) or source.suffix == ".pyc":
                    continue
                target = packed / target_name / relative
                self.mkpath(str(target.parent))
                self.copy_file(str(source), str(target))


setup(cmdclass={"build_py": BuildWithData})
