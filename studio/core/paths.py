"""Where the studio's own files live: `assets/`, `presets/` and the desktop files.

In a source checkout they sit beside the `studio` package (`<repo>/assets`, `<repo>/presets`,
`<repo>/packaging/linux`); an installed wheel and a PyInstaller bundle pack them as
`studio/_data/assets`, `studio/_data/presets` and `studio/_data/linux`. The checkout location
wins when both exist; the folder above the package counts as a checkout only when it holds the
project's pyproject.toml and the program is not frozen, so a stray `site-packages/assets` of
another distribution is never taken for ours. Every other module asks here instead of building
paths.
"""

from __future__ import annotations

import sys
from pathlib import Path, PurePath

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the `studio` package
PACKAGED_ROOT = PACKAGE_DIR / "_data"


def _checkout_root() -> Path | None:
    root = PACKAGE_DIR.parent
    if getattr(sys, "frozen", False) or not (root / "pyproject.toml").is_file():
        return None
    return root


CHECKOUT_ROOT = _checkout_root()


def _data_dir(name: str, checkout_name: str | None = None) -> Path:
    """The checkout folder if it exists, else the packaged folder `name` (which may not exist)."""
    if CHECKOUT_ROOT is not None:
        checkout = CHECKOUT_ROOT / (checkout_name or name)
        if checkout.is_dir():
            return checkout
    return PACKAGED_ROOT / name


def assets_dir() -> Path:
    return _data_dir("assets")


def presets_dir() -> Path:
    return _data_dir("presets")


def models_dir() -> Path:
    return assets_dir() / "models"


def desktop_dir() -> Path:
    """The Linux desktop entry, AppStream metainfo and icons (`packaging/linux` in a checkout)."""
    return _data_dir("linux", "packaging/linux")


def single_file_configs_dir() -> Path:
    """The component configs (and the shared CLIP tokenizer) for single-file checkpoints."""
    return assets_dir() / "single-file"


def resolve_inside(root: Path, relative: str | PurePath) -> Path:
    """`root / relative`, resolved, or ValueError when the result would escape `root`."""
    base = Path(root).resolve()
    candidate = (base / relative).resolve()
    if not candidate.is_relative_to(base):
        raise ValueError(f"The path {str(relative)!r} points outside {base}.")
    return candidate


def _is_plain_name(name: str) -> bool:
    if not name or name in {".", ".."} or name != name.strip():
        return False
    return not any(sep in name for sep in ("/", "\\", "\x00")) and ":" not in name


def embedded_model_dir(name: str) -> Path:
    """The folder of the embedded model `name` under `models_dir()`; plain folder names only."""
    if not isinstance(name, str) or not _is_plain_name(name):
        raise ValueError(f"{name!r} is not an embedded model name: use a plain folder name.")
    return resolve_inside(models_dir(), name)
