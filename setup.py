"""Packs the top-level `assets/` and `presets/` folders into the wheel as `studio/_data/`."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA_FOLDERS = ("assets", "presets")


class BuildWithData(build_py):
    """build_py that also copies the data folders beside the package (see studio/paths.py)."""

    def run(self) -> None:
        super().run()
        root = Path(__file__).resolve().parent
        for name in DATA_FOLDERS:
            for source in sorted((root / name).rglob("*")):
                if source.is_file():
                    target = Path(self.build_lib, "studio", "_data", source.relative_to(root))
                    self.mkpath(str(target.parent))
                    self.copy_file(str(source), str(target))


setup(cmdclass={"build_py": BuildWithData})
