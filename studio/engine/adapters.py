"""Loading a student stored as a LoRA adapter on its base model, fused into a copy of the base
(through the fused-weights cache, `studio.engine.fused_cache`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.core.manifest import AdapterManifest
from studio.core.paths import resolve_inside
from studio.core.weights_check import WeightsError
from studio.engine.fused_cache import FusedWeightsCache
from studio.engine.weights import load_weights


class AdapterError(RuntimeError):
    """An adapter that cannot be applied, in one sentence."""


def base_folder(adapter_folder: Path, manifest: AdapterManifest) -> Path:
    """The base model: a sibling folder (embedded models sit side by side)."""
    try:
        folder = resolve_inside(adapter_folder.parent, manifest.base)
    except ValueError as exc:
        raise AdapterError(str(exc)) from exc
    if not folder.is_dir():
        raise AdapterError(
            f"The adapter {adapter_folder.name} needs its base model {manifest.base}, "
            f"which is not next to it."
        )
    return folder


def fuse_adapter(
    pipe: Any,
    adapter_folder: Path,
    manifest: AdapterManifest,
    cache: FusedWeightsCache | None = None,
) -> Any:
    """Apply the LoRA to the pipeline's denoiser and fuse it, leaving a plain model: from the
    fused-weights cache when it holds this base and LoRA, else through peft (then kept)."""
    try:
        path = resolve_inside(adapter_folder, manifest.lora)
    except ValueError as exc:
        raise AdapterError(str(exc)) from exc
    if not path.is_file():
        raise AdapterError(f"The adapter file {manifest.lora} is missing from {adapter_folder}.")
    denoiser = getattr(pipe, "unet", None) or pipe.transformer
    prefix = "unet" if hasattr(pipe, "unet") else "transformer"

    def with_peft() -> None:
        _fuse_with_peft(denoiser, path, prefix, adapter_folder.name)

    (cache or FusedWeightsCache()).fuse(denoiser, path, 1.0, with_peft)
    return pipe


def _fuse_with_peft(denoiser: Any, path: Path, prefix: str, name: str) -> None:
    try:
        state = load_weights(path, name=f"The adapter file {path.name} in {name}")
    except WeightsError as exc:
        raise AdapterError(str(exc)) from exc
    try:
        denoiser.load_lora_adapter(state, prefix=prefix, adapter_name="studio_student")
        denoiser.fuse_lora(lora_scale=1.0)
        denoiser.unload_lora()
    except (ValueError, KeyError, RuntimeError) as exc:
        raise AdapterError(f"The adapter {name} does not fit its base: {exc}") from exc
