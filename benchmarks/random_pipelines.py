"""Full-size SD 1.5 and SDXL pipelines with random weights, built from the shipped configs.

Speed does not need trained weights: the configs in assets/single-file/{sd15,sdxl} give the
real architectures. `tiny` shrinks every width and depth (for a CPU test of the GPU part) while
keeping the component wiring. The engine sees them through `memory_loader`, a ModelCache
loader that hands out the already-built pipelines instead of reading files.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from studio.core.models import ModelRef, ModelSource
from studio.core.paths import resolve_inside, single_file_configs_dir
from studio.engine.loading import LoadedModel, family_of, latent_format_of
from studio.engine.samplers import model_kind_of

SHARED_VOCABULARY = "clip-tokenizer"
TINY_UNET = {"layers_per_block": 1, "attention_head_dim": 2, "transformer_layers_per_block": 1}
TINY_TEXT = {"num_hidden_layers": 1, "intermediate_size": 64}


def _tiny_unet(config: dict[str, Any]) -> dict[str, Any]:
    blocks = len(config["block_out_channels"])
    return TINY_UNET | {"block_out_channels": [32 * 2 ** min(i, 1) for i in range(blocks)]}


def _tiny_vae(config: dict[str, Any]) -> dict[str, Any]:
    return {"layers_per_block": 1, "block_out_channels": [32] * len(config["block_out_channels"])}


def _diffusers_component(folder: Path, class_name: str, tiny: bool) -> Any:
    import diffusers

    cls = getattr(diffusers, class_name)
    config = cls.load_config(folder)
    if class_name.endswith("Scheduler"):
        return cls.from_config(config)
    extra = {}
    if tiny:
        extra = _tiny_unet(config) if class_name == "UNet2DConditionModel" else _tiny_vae(config)
    return cls.from_config({**config, **extra})


def _transformers_component(folder: Path, class_name: str, tiny: bool) -> Any:
    import transformers

    if class_name == "CLIPTokenizer":
        vocabulary = single_file_configs_dir() / SHARED_VOCABULARY
        return transformers.CLIPTokenizer.from_pretrained(
            folder,
            local_files_only=True,
            vocab_file=str(vocabulary / "vocab.json"),
            merges_file=str(vocabulary / "merges.txt"),
        )
    config = transformers.CLIPTextConfig.from_pretrained(folder, local_files_only=True)
    if tiny:
        for key, value in TINY_TEXT.items():
            setattr(config, key, value)
    return getattr(transformers, class_name)(config)


def tame(unet: Any) -> None:
    """Zero the UNet's last convolution: random weights could otherwise drive the latents to
    inf over the steps in float16 (and the engine fails a lane whose image is not finite);
    a convolution of zeros costs the same."""
    with torch.no_grad():
        unet.conv_out.weight.zero_()
        unet.conv_out.bias.zero_()


def build(family: str, device: str, dtype: torch.dtype, tiny: bool = False) -> Any:
    """The `family` ("sd15" or "sdxl") pipeline with random weights on `device` in `dtype`."""
    import diffusers

    folder = resolve_inside(single_file_configs_dir(), family)
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    components: dict[str, Any] = {}
    torch.manual_seed(0)
    with torch.device(device):
        for key, value in index.items():
            if key.startswith("_") or not isinstance(value, list):
                continue
            library, class_name = value
            part = folder / key
            if library is None:
                components[key] = None
            elif library == "diffusers":
                components[key] = _diffusers_component(part, class_name, tiny)
            else:
                components[key] = _transformers_component(part, class_name, tiny)
    flags = {k: v for k, v in index.items() if isinstance(v, bool)}
    tame(components["unet"])
    pipe = getattr(diffusers, index["_class_name"])(**components, **flags)
    pipe.to(device, dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def loaded_model(pipe: Any, label: str, device: str, dtype: torch.dtype) -> LoadedModel:
    """What the engine's loader would return for `pipe`, named by a ref that is no folder."""
    base = copy.deepcopy(dict(pipe.scheduler.config))
    base["_class_name"] = type(pipe.scheduler).__name__
    family = family_of(type(pipe).__name__)
    return LoadedModel(
        pipe=pipe,
        ref=memory_ref(label),
        kind=model_kind_of(base),
        family=family,
        device=torch.device(device),
        dtype=dtype,
        load_s=0.0,
        latent_format=latent_format_of(pipe, family),
        base_scheduler_config=base,
    )


def memory_ref(label: str) -> ModelRef:
    return ModelRef(location=f"memory:{label}", source=ModelSource.folder, label=label)


def memory_loader(models: dict[ModelRef, LoadedModel]) -> Callable[..., LoadedModel]:
    """A ModelCache loader that hands out built pipelines by ref."""

    def load(ref: ModelRef, **_: Any) -> LoadedModel:
        return models[ref]

    return load
