"""Loading pipelines safely: local folders, the embedded models and the local Hugging Face cache.

Loading never runs code shipped with a model: model_index.json is read and checked first
(known pipeline classes, component libraries from diffusers and transformers only, component
folders inside the model folder), weights must be safetensors whose headers pass the check in
studio.core.weights_check before diffusers opens them, and neither remote code nor custom
pipelines are ever enabled.
"""

from __future__ import annotations

import copy
import logging
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from diffusers import DiffusionPipeline

from studio.core.engine_options import Offload
from studio.core.manifest import AdapterManifest, ManifestError, read_manifest
from studio.core.models import ModelRef, ModelSource
from studio.core.paths import embedded_model_dir
from studio.core.samplers import ModelKind
from studio.engine.adapters import AdapterError, base_folder, fuse_adapter
from studio.engine.emoji_pipeline import EmojiPipeline
from studio.engine.pipeline_folder import ModelFolder, ModelLoadError, inspect_folder
from studio.engine.placement import Placement, place, plan_placement
from studio.engine.quiet import quiet_loading
from studio.engine.samplers import model_kind_of
from studio.engine.single_file import SingleFileError, family_name, load_single_file
from studio.engine.text_encoder import load_text_encoder

log = logging.getLogger(__name__)

DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "fp16": torch.float16,
    "float16": torch.float16,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
}
FAMILY_PREFIXES = (
    ("EmojiPipeline", "emoji"),
    ("StableDiffusionXL", "sdxl"),
    ("StableDiffusion3", "sd3"),
    ("Flux", "flux"),
    ("StableDiffusion", "sd"),
    ("LatentConsistencyModel", "sd"),
)
SD_LATENT_FORMATS = {"sd": "sd15", "sdxl": "sdxl"}
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
HUB_PATTERNS = ["model_index.json", "*/*.json", "*/*.txt", "*/*.safetensors", "*/*.model"]


@dataclass
class LoadedModel:
    """A loaded pipeline with what the engine needs to know about it; holds the live pipe."""

    pipe: DiffusionPipeline
    ref: ModelRef
    kind: ModelKind
    family: str
    device: torch.device
    dtype: torch.dtype
    load_s: float
    latent_format: str
    base_scheduler_config: dict[str, Any]
    offload: Offload = Offload.none
    notice: str = ""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(preference: str = "auto") -> torch.device:
    """`auto` picks CUDA, then Apple MPS, then the CPU; a named device must be present."""
    choice = (preference or "auto").strip().lower()
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    try:
        device = torch.device(choice)
    except RuntimeError as exc:
        raise ValueError(f"{preference!r} is not a device: use auto, cpu, cuda or mps.") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for, but this machine has no usable CUDA device.")
    if device.type == "mps" and not _mps_available():
        raise ValueError("MPS was asked for, but this machine has no usable Apple GPU.")
    return device


def pick_dtype(device: torch.device, preference: str = "auto", family: str = "") -> torch.dtype:
    """`auto`: float16 on CUDA and MPS (bfloat16 for Flux and SD3 on CUDA), float32 on the CPU."""
    choice = (preference or "auto").strip().lower()
    if choice != "auto":
        if choice not in DTYPES:
            raise ValueError(f"{preference!r} is not a dtype: use auto, fp32, fp16 or bf16.")
        return DTYPES[choice]
    if device.type == "cuda" and family in {"flux", "sd3"} and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16 if device.type in {"cuda", "mps"} else torch.float32


@lru_cache(maxsize=1)
def shared_text_encoder() -> tuple[Any, Any]:
    """The embedded models' MiniLM encoder and tokenizer, loaded once per process."""
    return load_text_encoder()


def family_of(class_name: str) -> str:
    for prefix, family in FAMILY_PREFIXES:
        if class_name.startswith(prefix):
            return family
    return "unknown"


def latent_format_of(pipe: DiffusionPipeline, family: str) -> str:
    """How previews turn this pipeline's latents into RGB."""
    if family == "emoji":
        return "pixel_unshuffle2"
    vae = getattr(pipe, "vae", None)
    channels = getattr(getattr(vae, "config", None), "latent_channels", None)
    if family in SD_LATENT_FORMATS and channels == 4:
        return SD_LATENT_FORMATS[family]
    return "none"


def _hub_folder(repo_id: str, local_only: bool) -> Path:
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    if not HUB_ID.match(repo_id) or ".." in repo_id:
        raise ModelLoadError(f"{repo_id!r} is not a hub model id: use the form org/name.")
    offline = bool(constants.HF_HUB_OFFLINE)
    try:
        path = snapshot_download(
            repo_id, local_files_only=local_only or offline, allow_patterns=HUB_PATTERNS
        )
    except LocalEntryNotFoundError as exc:
        reason = "this machine is offline" if offline else "downloads are turned off"
        raise ModelLoadError(
            f"Model '{repo_id}' is not in the local cache and {reason}: download it once with "
            "a network connection, or pick a local folder."
        ) from exc
    except OSError as exc:
        raise ModelLoadError(f"Model '{repo_id}' could not be downloaded: {exc}.") from exc
    return Path(path)


def resolve_folder(ref: ModelRef, local_only: bool = True) -> Path:
    """The local folder holding the pipeline that `ref` names."""
    if ref.allow_pickle and ref.source is not ModelSource.file:
        raise ModelLoadError(
            f"Pickle weights can be allowed for a single weights file only, and "
            f"{ref.display_name} is not one."
        )
    if ref.config and ref.source is not ModelSource.file:
        raise ModelLoadError(
            f"A config can be chosen for a single-file checkpoint only, and {ref.display_name} "
            "is not one."
        )
    if ref.source is ModelSource.embedded:
        try:
            return embedded_model_dir(ref.location)
        except ValueError as exc:
            raise ModelLoadError(str(exc)) from exc
    if ref.source is ModelSource.folder:
        return Path(ref.location).expanduser()
    if ref.source is ModelSource.hub:
        return _hub_folder(ref.location, local_only)
    raise ModelLoadError(f"{ref.display_name} is a single weights file, not a model folder.")


def _dtype_keyword() -> str:
    """diffusers renamed `torch_dtype` to `dtype` (the old name now warns); older ones lack it."""
    from diffusers.utils import deprecation_utils

    return "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"


def _from_pretrained(folder: ModelFolder, dtype: torch.dtype) -> DiffusionPipeline:
    kwargs: dict[str, Any] = {key: None for key in folder.absent}
    kwargs |= {
        "use_safetensors": True,
        _dtype_keyword(): dtype,
        "local_files_only": True,
        "variant": folder.variant,
        "trust_remote_code": False,
        "custom_pipeline": None,
    }
    if folder.class_name == "EmojiPipeline":
        text_encoder, tokenizer = shared_text_encoder()
        kwargs |= {"text_encoder": text_encoder, "tokenizer": tokenizer}
        return EmojiPipeline.from_pretrained(folder.path, **kwargs)
    return DiffusionPipeline.from_pretrained(folder.path, **kwargs)


def _load_checked(folder: ModelFolder, dtype: torch.dtype, name: str) -> DiffusionPipeline:
    try:
        with quiet_loading():
            pipe: Any = _from_pretrained(folder, dtype)
        pipe.set_progress_bar_config(disable=True)
        return pipe
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"Could not load {name}: {detail}") from exc


def _adapter_manifest(folder: Path, name: str) -> AdapterManifest | None:
    try:
        return read_manifest(folder)
    except ManifestError as exc:
        raise ModelLoadError(f"{name}: {exc}") from exc


def _adapter_base(folder: Path, manifest: AdapterManifest) -> Path:
    try:
        return base_folder(folder, manifest)
    except AdapterError as exc:
        raise ModelLoadError(str(exc)) from exc


def _fuse(pipe: Any, folder: Path, manifest: AdapterManifest) -> None:
    try:
        fuse_adapter(pipe, folder, manifest)
    except AdapterError as exc:
        raise ModelLoadError(str(exc)) from exc
    except Exception as exc:
        raise ModelLoadError(f"Could not apply the adapter {folder.name}: {exc}") from exc


def _placement(device: str, dtype: str, family: str) -> tuple[torch.device, torch.dtype]:
    try:
        target = pick_device(device)
        return target, pick_dtype(target, dtype, family)
    except ValueError as exc:
        raise ModelLoadError(str(exc)) from exc


def _load_folder(
    ref: ModelRef, device: str, dtype: str, local_only: bool
) -> tuple[Any, str, torch.device, torch.dtype]:
    location = resolve_folder(ref, local_only)
    adapter = _adapter_manifest(location, ref.display_name)
    weights_folder = _adapter_base(location, adapter) if adapter else location
    folder = inspect_folder(weights_folder, ref.display_name)
    family = family_of(folder.class_name)
    target, torch_dtype = _placement(device, dtype, family)
    pipe: Any = _load_checked(folder, torch_dtype, ref.display_name)
    if adapter:
        _fuse(pipe, location, adapter)
    return pipe, family, target, torch_dtype


def _load_file(
    ref: ModelRef, device: str, dtype: str
) -> tuple[Any, str, torch.device, torch.dtype]:
    """A single-file SD or SDXL checkpoint (the same dtype rule holds for both)."""
    name = ref.display_name
    target, torch_dtype = _placement(device, dtype, "sd")
    try:
        with quiet_loading():
            pipe, family = load_single_file(
                Path(ref.location).expanduser(),
                dtype=torch_dtype,
                allow_pickle=ref.allow_pickle,
                config=ref.config,
                name=name,
            )
        pipe.set_progress_bar_config(disable=True)
    except SingleFileError as exc:
        raise ModelLoadError(str(exc)) from exc
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"Could not load {name}: {detail}") from exc
    return pipe, family_name(family), target, torch_dtype


def _place(pipe: Any, target: torch.device, offload: str, family: str, name: str) -> Placement:
    try:
        placement = plan_placement(target, offload, family)
    except ValueError as exc:
        raise ModelLoadError(str(exc)) from exc
    if placement.notice:
        log.warning("%s: %s", name, placement.notice)
    try:
        place(pipe, placement)
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"Could not put {name} on {target}: {detail}") from exc
    return placement


def load_pipeline(
    ref: ModelRef,
    *,
    device: str = "auto",
    dtype: str = "auto",
    local_only: bool = True,
    offload: str = "none",
) -> LoadedModel:
    """Load the pipeline `ref` names onto a device (or CPU offload for it, see
    studio.engine.placement), after checking its files are safe to load."""
    started = time.perf_counter()
    if ref.source is ModelSource.file:
        pipe, family, target, torch_dtype = _load_file(ref, device, dtype)
    else:
        pipe, family, target, torch_dtype = _load_folder(ref, device, dtype, local_only)
    placement = _place(pipe, target, offload, family, ref.display_name)
    base_config = copy.deepcopy(dict(pipe.scheduler.config))
    base_config["_class_name"] = type(pipe.scheduler).__name__
    return LoadedModel(
        pipe=pipe,
        ref=ref,
        kind=model_kind_of(base_config),
        family=family,
        device=target,
        dtype=torch_dtype,
        load_s=time.perf_counter() - started,
        latent_format=latent_format_of(pipe, family),
        base_scheduler_config=base_config,
        offload=placement.offload,
        notice=placement.notice,
    )
