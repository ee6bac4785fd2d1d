"""Distilled students made from a loaded teacher, sharing its memory.

A student is a second pipeline object made with `from_pipe`, so it holds the very same text
encoders, tokenizers and VAE as its base (no copy), with its own scheduler and:

- a LoRA student (LCM-LoRA, TCD, Hyper-SD, Lightning and DMD2 LoRAs): the LoRA is loaded, not
  fused, into the base's own denoiser as a named adapter. Before every pipe call the runner
  calls `activate_lane`, which enables only that adapter for the student lane and disables all
  adapters for any other lane, so the teacher runs bit-identical to a teacher without adapters.
  Memory: the LoRA's own weights only (a few to a few hundred MB); cost: the unfused low-rank
  branch adds a little work per step to the student. Fusing would be faster but rewrites the
  teacher's weights, and unfusing does not restore them bit for bit.
- a full-UNet student (SDXL-Lightning, Hyper-SDXL 1-step, DMD2, LCM-SDXL): a second UNet is
  built on the meta device, filled from the adapter file (strict: every weight, no others) and
  swapped in; everything else stays shared. Memory: one more UNet (about 5 GB for SDXL in
  fp16) instead of a whole second pipeline (about 7 GB).
- a whole student pipeline (SD-Turbo, FLUX.1-schnell, ...) or the base itself (FLUX.1-dev at
  fewer steps): only the sampling facts differ; nothing is copied.
"""

from __future__ import annotations

import hashlib
import inspect
import time
from dataclasses import dataclass, field, fields
from typing import Any

import diffusers
import torch

from studio.core.student_refs import AdapterKind, AdapterRef, StudentRef
from studio.engine.adapter_files import adapter_path, read_adapter_weights, read_unet_config
from studio.engine.loading import LoadedModel, ModelLoadError
from studio.engine.quiet import quiet_loading
from studio.engine.samplers import init_defaults, model_kind_of

ADAPTER_PREFIX = "student_"


@dataclass
class StudentModel(LoadedModel):
    """A loaded student: its own pipeline object over its base's components, and what the
    runner needs to run it (which LoRA adapter to enable, trained timesteps, extra arguments)."""

    base: LoadedModel | None = None
    lora_adapter: str | None = None
    lora_scale: float = 1.0
    timesteps: tuple[int, ...] = ()
    extra_kwargs: dict[str, Any] = field(default_factory=dict)


def adapter_name(adapter: AdapterRef) -> str:
    """A stable adapter name per file, so a base never loads the same LoRA twice."""
    digest = hashlib.sha1(f"{adapter.location}/{adapter.file}".encode()).hexdigest()[:12]
    return ADAPTER_PREFIX + digest


def lora_adapters(pipe: Any) -> set[str]:
    """The names of the LoRA adapters loaded into any of the pipeline's components."""
    listing = getattr(pipe, "get_list_adapters", None)
    if listing is None:
        return set()
    return {name for names in listing().values() for name in names}


def activate_lane(loaded: LoadedModel) -> None:
    """Before a pipe call: enable only this lane's LoRA, or none for a plain model."""
    pipe = loaded.pipe
    if not lora_adapters(pipe):
        return
    name = getattr(loaded, "lora_adapter", None)
    if name is None:
        pipe.disable_lora()
        return
    pipe.enable_lora()
    pipe.set_adapters([name], [getattr(loaded, "lora_scale", 1.0)])


def student_call_kwargs(pipe: Any, loaded: LoadedModel, steps: int) -> dict[str, Any]:
    """A student's extra pipeline arguments, with its trained timesteps when the lane runs
    exactly that many steps and its scheduler takes explicit timesteps."""
    extra = dict(getattr(loaded, "extra_kwargs", {}))
    timesteps = getattr(loaded, "timesteps", ())
    accepted = inspect.signature(pipe.__call__).parameters
    takes = inspect.signature(pipe.scheduler.set_timesteps).parameters
    if timesteps and len(timesteps) == steps and "timesteps" in accepted and "timesteps" in takes:
        extra["timesteps"] = list(timesteps)
    return extra


# --- deriving a student from its base ----------------------------------------------------------


def _denoiser_key(pipe: Any) -> str:
    return "unet" if getattr(pipe, "unet", None) is not None else "transformer"


def _check_pipeline(pipe: Any, ref: StudentRef) -> None:
    expected, actual = ref.sampling.pipeline, type(pipe).__name__
    if expected and actual != expected:
        raise ModelLoadError(
            f"The preset {ref.display_name} runs a {expected}, but {ref.location} loads as a "
            f"{actual}: use the model the preset was made for."
        )


def _check_call_kwargs(pipe: Any, ref: StudentRef) -> dict[str, Any]:
    accepted = inspect.signature(pipe.__call__).parameters
    extra = dict(ref.sampling.call_kwargs)
    for key in extra:
        if key not in accepted:
            raise ModelLoadError(
                f"The preset {ref.display_name} passes {key}, which {type(pipe).__name__} "
                "does not take: remove it from the preset's call_kwargs."
            )
    return extra


def _scheduler_config(base: LoadedModel, ref: StudentRef) -> dict[str, Any]:
    """The base's scheduler config with the student's overrides, checked against the class."""
    overrides = dict(ref.sampling.scheduler_overrides)
    name = ref.sampling.scheduler or str(base.base_scheduler_config.get("_class_name", ""))
    cls = getattr(diffusers, name, None) if name.isidentifier() else None
    if overrides and not isinstance(cls, type):
        raise ModelLoadError(f"The preset {ref.display_name} names no scheduler for its overrides.")
    accepted = init_defaults(cls) if isinstance(cls, type) else {}
    for key in overrides:
        if key not in accepted:
            raise ModelLoadError(
                f"The preset {ref.display_name} overrides {key}, which {name} has no setting for."
            )
    return {**base.base_scheduler_config, **overrides}


def _drop_unused_loras(base: LoadedModel, keep: set[str]) -> None:
    stale = {n for n in lora_adapters(base.pipe) if n.startswith(ADAPTER_PREFIX)} - keep
    if stale:
        base.pipe.delete_adapters(sorted(stale))


def load_lora(pipe: Any, adapter: AdapterRef, owner: str, local_only: bool) -> str:
    """Load the LoRA into the pipeline's components as a named adapter (once per base)."""
    name = adapter_name(adapter)
    if name in lora_adapters(pipe):
        return name
    path = adapter_path(adapter, local_only=local_only)
    state = read_adapter_weights(path, adapter, owner)
    try:
        with quiet_loading():
            pipe.load_lora_weights(state, adapter_name=name)
    except (ValueError, KeyError, RuntimeError, TypeError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            f"The LoRA {adapter.display_name} does not fit {owner}: {detail}"
        ) from exc
    if name not in lora_adapters(pipe):
        raise ModelLoadError(
            f"The LoRA {adapter.display_name} holds no weights for {owner}'s denoiser: it was "
            "made for another model family."
        )
    return name


def _fill(
    module: torch.nn.Module, state: dict[str, torch.Tensor], adapter: AdapterRef, owner: str
) -> None:
    try:
        module.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        own = set(module.state_dict())
        missing, extra = len(own - set(state)), len(set(state) - own)
        raise ModelLoadError(
            f"The UNet file {adapter.display_name} does not fit {owner}'s UNet ({missing} "
            f"weights missing, {extra} unknown, or shapes differ): it was made for another model."
        ) from exc
    if any(t.is_meta for t in (*module.parameters(), *module.buffers())):
        raise ModelLoadError(f"The UNet file {adapter.display_name} left weights unset.")


def load_unet(
    base: LoadedModel, adapter: AdapterRef, owner: str, local_only: bool
) -> torch.nn.Module:
    """A second UNet for the student: the base's architecture (or the adapter's config.json),
    built without memory on the meta device and filled from the adapter file."""
    own = getattr(base.pipe, "unet", None)
    if own is None:
        raise ModelLoadError(f"{owner} has no UNet, so a full-UNet student cannot replace it.")
    cls = type(own)
    if adapter.unet_config == "adapter":
        config = read_unet_config(adapter, local_only=local_only, expected=cls.__name__)
    else:
        config = dict(own.config)
    path = adapter_path(adapter, local_only=local_only)
    with torch.device("meta"), quiet_loading():
        unet = cls.from_config(config)
    _fill(unet, read_adapter_weights(path, adapter, owner), adapter, owner)
    return unet.to(device=base.device, dtype=base.dtype).eval()


def derive_student(
    base: LoadedModel, ref: StudentRef, *, local_only: bool = True, keep: set[str] | None = None
) -> StudentModel:
    """The student `ref` names, made from its loaded `base` without copying shared parts.

    `keep` names the LoRA adapters other live students still use; any other adapter this
    module loaded into the base is deleted first, so switching presets does not pile them up.
    """
    started = time.perf_counter()
    owner = base.ref.display_name or ref.location
    _check_pipeline(base.pipe, ref)
    extra = _check_call_kwargs(base.pipe, ref)
    config = _scheduler_config(base, ref)
    adapter = ref.adapter
    own = {adapter_name(adapter)} if adapter is not None else set()
    _drop_unused_loras(base, (keep or set()) | own)
    components: dict[str, Any] = {}
    lora = None
    if adapter is not None and adapter.kind is AdapterKind.unet:
        components[_denoiser_key(base.pipe)] = load_unet(base, adapter, owner, local_only)
    elif adapter is not None:
        lora = load_lora(base.pipe, adapter, owner, local_only)
    with quiet_loading():
        pipe = type(base.pipe).from_pipe(base.pipe, **components)
    pipe.set_progress_bar_config(disable=True)
    values = {f.name: getattr(base, f.name) for f in fields(LoadedModel)}
    values |= {
        "pipe": pipe,
        "ref": ref,
        "kind": model_kind_of(config),
        "base_scheduler_config": config,
        "load_s": time.perf_counter() - started,
    }
    return StudentModel(
        **values,
        base=base,
        lora_adapter=lora,
        lora_scale=adapter.scale if adapter is not None else 1.0,
        timesteps=ref.sampling.timesteps,
        extra_kwargs=extra,
    )
