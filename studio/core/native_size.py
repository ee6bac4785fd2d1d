"""The image size a model was made for, told from its small files without loading it.

The default image size follows the model's family (SD 1.x 512, SD 2.x 768 for the v-prediction
models and 512 for the base ones, SDXL, SD3 and FLUX 1024, the embedded emoji models their own
32), the way diffusers' pipelines choose theirs: the denoiser's `sample_size` times the VAE's
scale factor. A diffusers folder says it in its component configs; a single-file checkpoint
through its config choice, or else the family its tensor names show; a preset in its own size;
a hub id through a preset made on it, or its copy in the Hugging Face cache. What cannot be told
gets the studio's 512. An explicit size always wins over this default: it is only a default.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from studio.core.checkpoint_family import CheckpointFamily, classify
from studio.core.json_files import JsonFileError, read_json
from studio.core.manifest import ManifestError, read_manifest
from studio.core.model_presets import PresetCatalogue
from studio.core.models import EMBEDDED_SIDE, OTHER_SIDE, ModelRef, ModelSource
from studio.core.preset_schema import FAMILY_SIDES as PRESET_SIDES
from studio.core.weights_check import WeightsError, tensor_shapes

Size = tuple[int, int]
CONFIG_SIDES = {"sd15": 512, "sd21": 768, "sd21-base": 512, "sdxl": 1024}
FAMILY_SIDES = {
    CheckpointFamily.sd1: 512,
    CheckpointFamily.sd2: 768,  # the shipped default config for SD 2.x is the 768 v model
    CheckpointFamily.sdxl: 1024,
    CheckpointFamily.sdxl_refiner: 1024,
    CheckpointFamily.sd3: 1024,
    CheckpointFamily.flux: 1024,
}
CLASS_SIDES = (
    ("StableDiffusionXL", 1024),
    ("StableDiffusion3", 1024),
    ("Flux", 1024),
    ("LatentConsistencyModel", 512),
    ("StableDiffusion", 512),
)
OWN_SIDES = {"EmojiPipeline": EMBEDDED_SIDE}  # patches of 2 pixels: the UNet's size says 16
DENOISERS = ("unet", "transformer")
MAX_CONFIG_BYTES = 1_000_000
MAX_ADAPTER_DEPTH = 2


def _config(path: Path) -> dict[str, Any]:
    try:
        config = read_json(path, max_bytes=MAX_CONFIG_BYTES)
    except (OSError, JsonFileError):
        return {}
    return config if isinstance(config, dict) else {}


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _vae_scale(folder: Path, index: dict[str, Any]) -> int | None:
    """The VAE's down-scaling (2 per block after the first); 1 for a model without a VAE."""
    if not isinstance(index.get("vae"), list) or index["vae"][-1:] == [None]:
        return 1
    blocks = _config(folder / "vae" / "config.json").get("block_out_channels")
    return 2 ** (len(blocks) - 1) if isinstance(blocks, list) and blocks else None


def _denoiser_side(folder: Path, index: dict[str, Any]) -> int | None:
    scale = _vae_scale(folder, index)
    for name in DENOISERS:
        sample = _config(folder / name / "config.json").get("sample_size")
        side = _positive(sample[0] if isinstance(sample, list) and sample else sample)
        if side is not None and scale is not None:
            return side * scale
    return None


def _class_side(index: dict[str, Any]) -> int | None:
    name = str(index.get("_class_name", ""))
    return next((side for prefix, side in CLASS_SIDES if name.startswith(prefix)), None)


def folder_side(folder: Path, depth: int = 0) -> int | None:
    """A diffusers folder's side, or its base's for an adapter folder; None when unsure."""
    try:
        manifest = read_manifest(folder)
    except (ManifestError, OSError):
        return None
    if manifest is not None:
        base = folder.parent / manifest.base
        return folder_side(base, depth + 1) if depth < MAX_ADAPTER_DEPTH else None
    index = _config(folder / "model_index.json")
    if index.get("_class_name") in OWN_SIDES:
        return OWN_SIDES[str(index["_class_name"])]
    return _denoiser_side(folder, index) or _class_side(index)


def file_side(path: Path, config: str = "") -> int | None:
    """A single-file checkpoint's side: from its config choice (a shipped name or a folder),
    else from the family its safetensors header shows (a pickle says nothing unloaded)."""
    if config in CONFIG_SIDES:
        return CONFIG_SIDES[config]
    if config:
        return folder_side(Path(config).expanduser())
    try:
        family = classify(list(tensor_shapes(path)))
    except (WeightsError, OSError):
        return None
    return FAMILY_SIDES.get(family)


def hub_cache_dir() -> Path:
    """Where huggingface_hub keeps its downloads (HF_HUB_CACHE, HF_HOME/hub, else ~/.cache)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or str(Path.home() / ".cache" / "huggingface")
    return Path(home) / "hub"


def _cached_hub_side(repo_id: str) -> int | None:
    snapshots = hub_cache_dir() / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    try:
        folders = sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return None
    return next((s for s in map(folder_side, folders) if s is not None), None)


def _preset_size(ref: ModelRef, presets: PresetCatalogue | None) -> Size | None:
    """The size of the preset `ref` is; else of the family of the presets made on the model
    `ref` names (their base), or of the one preset whose student it is."""
    if presets is None:
        return None
    preset = presets.find(ref.label) if ref.label else None
    if preset is not None and preset.student == ref.location:
        return preset.width, preset.height
    bases = {PRESET_SIDES.get(p.family) for p in presets.presets if p.base == ref.location}
    if len(bases) == 1 and (side := bases.pop()) is not None:
        return side, side
    students = {(p.width, p.height) for p in presets.presets if p.student == ref.location}
    return students.pop() if len(students) == 1 else None


def native_size(ref: ModelRef, presets: PresetCatalogue | None = None) -> Size:
    """The (width, height) `ref` was made for: its family's, as far as its files tell."""
    if ref.source is ModelSource.embedded:
        return EMBEDDED_SIDE, EMBEDDED_SIDE
    preset = _preset_size(ref, presets)
    if preset is not None:
        return preset
    location = Path(ref.location).expanduser()
    side: int | None = None
    match ref.source:
        case ModelSource.folder:
            side = folder_side(location)
        case ModelSource.file:
            side = file_side(location, ref.config)
        case ModelSource.hub:
            side = _cached_hub_side(ref.location)
    return (side, side) if side is not None else (OTHER_SIDE, OTHER_SIDE)


def default_size(refs: Iterable[ModelRef], presets: PresetCatalogue | None = None) -> Size:
    """The default size for a job over `refs` (a comparison's teacher and student): the
    largest width and height of their native sizes."""
    sizes = [native_size(ref, presets) for ref in refs]
    if not sizes:
        return OTHER_SIDE, OTHER_SIDE
    return max(w for w, _ in sizes), max(h for _, h in sizes)
