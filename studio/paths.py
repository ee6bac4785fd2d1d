"""Where the studio's own files live: the top-level `assets/` and `presets/` folders.

In a source checkout they sit beside the `studio` package (`<repo>/assets`, `<repo>/presets`);
an installed wheel packages them as `studio/_data/assets` and `studio/_data/presets`. The
checkout location wins when both exist. Every other module asks here instead of building paths.
"""

from __future__ import annotations

from pathlib import Path, PurePath

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT_ROOT = PACKAGE_DIR.parent
PACKAGED_ROOT = PACKAGE_DIR / "_data"


def _data_dir(name: str) -> Path:
    """The checkout folder `name` if it exists, else the packaged one (which may not exist)."""
    checkout = CHECKOUT_ROOT / name
    if checkout.is_dir():
        return checkout
    return PACKAGED_ROOT / name


def assets_dir() -> Path:
    return _data_dir("assets")


def presets_dir() -> Path:
    return _data_dir("presets")


def models_dir() -> Path:
    return assets_dir() / "models"


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
