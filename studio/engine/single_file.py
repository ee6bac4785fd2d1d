"""Single-file SD 1.x, SD 2.x and SDXL checkpoints, loaded offline with configs the studio ships.

The file is checked by its content (studio.core.weights_check: checked safetensors, or an
opted-in pickle read whole through torch.load(weights_only=True)); its family comes from its
tensor names (studio.core.checkpoint_family). Each component is then built by diffusers' own
single-file loader (`load_single_file_sub_model`, the per-component step of `from_single_file`)
from that component's tensors alone and a config folder, with `local_files_only=True`. A
safetensors file is read one component at a time, largest (the UNet) first, through a memory map
that is let go once the component is built: holding the whole file while every component was
built cost about 0.9 GB of peak memory above a folder load on a float16 SD 1.5
(docs/BENCHMARKS.md). The config folder is one shipped under
`assets/single-file/<name>` or one the model reference names. The pipeline-level
`from_single_file` is not called because it needs a path and picks its reader by the file's
extension. Tokenizers use their folder's own vocabulary files when it has them, else the CLIP
BPE files shipped once in `assets/single-file/clip-tokenizer`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import DiffusionPipeline, StableDiffusionPipeline, StableDiffusionXLPipeline

from studio.core.checkpoint_family import (
    CONFIG_CHOICES,
    TEXT_ENCODERS,
    UNET,
    VAE,
    CheckpointError,
    CheckpointFamily,
    check_checkpoint,
    config_for,
)
from studio.core.paths import resolve_inside, single_file_configs_dir
from studio.core.weights_check import WeightsError, WeightsFormat, check_weights_file, tensor_shapes
from studio.engine.weights import load_weights

PIPELINES: dict[str, tuple[type[DiffusionPipeline], frozenset[CheckpointFamily]]] = {
    "StableDiffusionPipeline": (
        StableDiffusionPipeline,
        frozenset({CheckpointFamily.sd1, CheckpointFamily.sd2}),
    ),
    "StableDiffusionXLPipeline": (
        StableDiffusionXLPipeline,
        frozenset({CheckpointFamily.sdxl}),
    ),
}
COMPONENT_CLASSES = {
    "diffusers": frozenset(
        {"UNet2DConditionModel", "AutoencoderKL"}
        | {f"{n}Scheduler" for n in ("PNDM", "DDIM", "EulerDiscrete", "EulerAncestralDiscrete")}
        | {f"{n}Scheduler" for n in ("DPMSolverMultistep", "LCM", "DDPM", "TCD")}
    ),
    "transformers": frozenset({"CLIPTextModel", "CLIPTextModelWithProjection", "CLIPTokenizer"}),
}
PIPELINE_FAMILIES = {
    CheckpointFamily.sd1: "sd",
    CheckpointFamily.sd2: "sd",
    CheckpointFamily.sdxl: "sdxl",
}
NO_TENSORS = frozenset({"scheduler", "tokenizer", "tokenizer_2"})
BUILD_FIRST = ("unet",)  # the largest part first, while nothing else is in memory
SHARED_TOKENIZER = "clip-tokenizer"
VOCAB_FILES = ("vocab.json", "merges.txt")


class SingleFileError(ValueError):
    """A single-file checkpoint that cannot be loaded, in one sentence."""


@dataclass(frozen=True, slots=True)
class SingleFileConfig:
    """A checked config folder: its pipeline class, each component's (library, class) or None
    for an absent one, and the pipeline's boolean init flags."""

    path: Path
    class_name: str
    components: tuple[tuple[str, tuple[str, str] | None], ...]
    flags: tuple[tuple[str, bool], ...]


def family_name(family: CheckpointFamily) -> str:
    """The engine's family name (as in studio.engine.loading) of a checkpoint family."""
    return PIPELINE_FAMILIES[family]


def config_folder(family: CheckpointFamily, choice: str = "") -> Path:
    """The config folder for a checkpoint: a shipped one by name, or a folder the user named."""
    shipped = {name for names in CONFIG_CHOICES.values() for name in names}
    if not choice or choice in shipped:
        try:
            name = config_for(family, choice)
        except CheckpointError as exc:
            raise SingleFileError(str(exc)) from exc
        return resolve_inside(single_file_configs_dir(), name)
    folder = Path(choice).expanduser()
    if not folder.is_dir():
        raise SingleFileError(
            f"The config {choice!r} is neither a shipped config ({', '.join(sorted(shipped))}) "
            "nor a folder: name one of those, or a diffusers model folder."
        )
    return folder


def _read_index(folder: Path) -> dict[str, Any]:
    index_file = folder / "model_index.json"
    try:
        index = json.loads(index_file.read_text("utf-8"))
    except FileNotFoundError as exc:
        raise SingleFileError(
            f"The config folder {folder} has no model_index.json: reinstall the studio, or "
            "name a diffusers model folder as the config."
        ) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SingleFileError(f"{index_file} is not valid JSON.") from exc
    if not isinstance(index, dict):
        raise SingleFileError(f"{index_file} is not a JSON object.")
    return index


def _component(folder: Path, key: str, value: list[Any]) -> tuple[str, str] | None:
    library, class_name = value
    if library is None and class_name is None:
        return None
    if class_name not in COMPONENT_CLASSES.get(str(library), ()):
        raise SingleFileError(
            f"The config folder {folder} asks for its {key} as {library}.{class_name}, which "
            "single-file loading does not build."
        )
    return str(library), str(class_name)


def read_config(folder: Path, family: CheckpointFamily, name: str) -> SingleFileConfig:
    """Check a config folder: a known pipeline class that fits the family, known components."""
    index = _read_index(folder)
    class_name = index.get("_class_name")
    if class_name not in PIPELINES:
        raise SingleFileError(
            f"The config folder {folder} is for {class_name!r}; single files load as "
            f"{' or '.join(PIPELINES)} only."
        )
    if family not in PIPELINES[class_name][1]:
        raise SingleFileError(
            f"{name} is an {family.label} checkpoint, but the config {folder.name} is for "
            f"{class_name}: pick a config of its family."
        )
    components = tuple(
        (key, _component(folder, key, value))
        for key, value in sorted(index.items())
        if not key.startswith("_") and isinstance(value, list) and len(value) == 2
    )
    flags = tuple((k, v) for k, v in sorted(index.items()) if isinstance(v, bool))
    return SingleFileConfig(path=folder, class_name=class_name, components=components, flags=flags)


def _shapes(checkpoint: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {key: tuple(tensor.shape) for key, tensor in checkpoint.items()}


@dataclass(frozen=True, slots=True)
class CheckpointParts:
    """A checked checkpoint's tensors, handed out one component's worth at a time: read from
    a safetensors file through a memory map each time (`tensors` None), or picked from an
    opted-in pickle already read whole."""

    path: Path
    keys: tuple[str, ...]
    tensors: dict[str, torch.Tensor] | None = None

    def part(self, prefixes: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """The tensors whose names start with one of `prefixes` (every tensor for ())."""
        keys = [k for k in self.keys if not prefixes or k.startswith(prefixes)]
        if self.tensors is not None:
            return {k: self.tensors[k] for k in keys}
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(self.path), framework="pt") as handle:
                return {k: handle.get_tensor(k) for k in keys}
        except (SafetensorError, OSError) as exc:
            raise SingleFileError(
                f"{self.path.name} could not be read as safetensors: {exc}."
            ) from exc

    def close(self) -> None:
        if self.tensors is not None:
            self.tensors.clear()


def read_checkpoint(
    path: Path, *, allow_pickle: bool, name: str
) -> tuple[CheckpointParts, CheckpointFamily]:
    """The checkpoint's tensors (see `CheckpointParts`) and family; a safetensors file is
    classified from its header alone, so a LoRA or a FLUX file is refused before any read."""
    try:
        kind = check_weights_file(path, allow_pickle=allow_pickle, name=name)
        if kind is WeightsFormat.safetensors:
            shapes = tensor_shapes(path, name)
            family = check_checkpoint(shapes, name)
            return CheckpointParts(path, tuple(shapes)), family
        checkpoint = load_weights(path, allow_pickle=allow_pickle, name=name)
        family = check_checkpoint(_shapes(checkpoint), name)
    except (WeightsError, CheckpointError) as exc:
        raise SingleFileError(str(exc)) from exc
    return CheckpointParts(path, tuple(checkpoint), checkpoint), family


def component_prefixes(family: CheckpointFamily, key: str) -> tuple[str, ...]:
    """The tensor-name prefixes of one pipeline component in an original checkpoint; () (the
    whole file) for a component of a user's config the studio has no prefix for. A text
    encoder gets every text encoder's tensors: diffusers tells an SDXL CLIP-L by the OpenCLIP
    tensor beside it (mapped tensors it does not read cost no memory)."""
    encoders = TEXT_ENCODERS[family]
    table = {"unet": (UNET,), "vae": (VAE,), "text_encoder": encoders, "text_encoder_2": encoders}
    return table.get(key, ())


def _vocabulary_folder(folder: Path) -> Path:
    """Where a tokenizer's vocabulary files are: its own folder, else the shared CLIP files."""
    if all((folder / f).is_file() for f in VOCAB_FILES) or (folder / "tokenizer.json").is_file():
        return folder
    shared = single_file_configs_dir() / SHARED_TOKENIZER
    if not all((shared / f).is_file() for f in VOCAB_FILES):
        raise SingleFileError(
            f"The CLIP tokenizer files {' and '.join(VOCAB_FILES)} are missing from {shared}: "
            "reinstall the studio, or run packaging/clip_tokenizer.py to write them."
        )
    return shared


def _tokenizer(folder: Path) -> Any:
    from transformers import CLIPTokenizer

    vocabulary = _vocabulary_folder(folder)
    if vocabulary == folder:
        return CLIPTokenizer.from_pretrained(folder, local_files_only=True)
    return CLIPTokenizer.from_pretrained(
        folder,
        local_files_only=True,
        vocab_file=str(vocabulary / VOCAB_FILES[0]),
        merges_file=str(vocabulary / VOCAB_FILES[1]),
    )


def _build(
    key: str, spec: tuple[str, str], checkpoint: dict[str, torch.Tensor], config: Path, name: str
) -> Any:
    """One component at the checkpoint's own dtype (casting first would hide missing weights:
    diffusers leaves them on the meta device, and moving those fails)."""
    from diffusers import pipelines
    from diffusers.loaders.single_file import load_single_file_sub_model

    library, class_name = spec
    if class_name == "CLIPTokenizer":
        return _tokenizer(resolve_inside(config, key))
    try:
        return load_single_file_sub_model(
            library_name=library,
            class_name=class_name,
            name=key,
            checkpoint=checkpoint,
            pipelines=pipelines,
            is_pipeline_module=hasattr(pipelines, library),
            cached_model_config_path=str(config),
            local_files_only=True,
        )
    except NotImplementedError as exc:
        if "meta tensor" not in str(exc):
            raise
        raise SingleFileError(_incomplete(name, key)) from exc


def _build_part(
    key: str,
    spec: tuple[str, str],
    parts: CheckpointParts,
    family: CheckpointFamily,
    config: Path,
    name: str,
) -> Any:
    """One component from its own tensors only, which are let go (and their memory map with
    them) as soon as it is built."""
    tensors = {} if key in NO_TENSORS else parts.part(component_prefixes(family, key))
    try:
        return _build(key, spec, tensors, config, name)
    finally:
        tensors.clear()


def _incomplete(name: str, key: str) -> str:
    return (
        f"{name} lacks some of its {key} weights: the file is incomplete, or not of the family "
        "its config is for."
    )


def _check_complete(components: dict[str, Any], name: str) -> None:
    """Every weight was in the file (diffusers leaves missing ones on the meta device), and
    each tokenizer's vocabulary fits its text encoder."""
    for key, module in components.items():
        if isinstance(module, torch.nn.Module) and any(p.is_meta for p in module.parameters()):
            raise SingleFileError(_incomplete(name, key))
    for suffix in ("", "_2"):
        tokenizer = components.get(f"tokenizer{suffix}")
        encoder = components.get(f"text_encoder{suffix}")
        if tokenizer is None or encoder is None or len(tokenizer) == encoder.config.vocab_size:
            continue
        raise SingleFileError(
            f"The tokenizer{suffix} in the config for {name} has {len(tokenizer)} tokens but "
            f"its text encoder expects {encoder.config.vocab_size}: give that config folder "
            "its own tokenizer files."
        )


def _build_order(config: SingleFileConfig) -> list[tuple[str, tuple[str, str] | None]]:
    return sorted(config.components, key=lambda item: item[0] not in BUILD_FIRST)


def build_pipeline(
    parts: CheckpointParts,
    family: CheckpointFamily,
    config: SingleFileConfig,
    dtype: torch.dtype,
    name: str,
) -> DiffusionPipeline:
    """The pipeline of a checkpoint's tensors with the configs of `config`."""
    components: dict[str, Any] = {}
    for key, spec in _build_order(config):
        if spec is None:
            components[key] = None
            continue
        components[key] = _build_part(key, spec, parts, family, config.path, name)
    _check_complete(components, name)
    for module in components.values():
        if isinstance(module, torch.nn.Module):
            module.to(dtype)
    pipeline_class = PIPELINES[config.class_name][0]
    return pipeline_class(**components, **dict(config.flags))


def load_single_file(
    path: Path, *, dtype: torch.dtype, allow_pickle: bool = False, config: str = "", name: str = ""
) -> tuple[DiffusionPipeline, CheckpointFamily]:
    """Load a single-file checkpoint as a pipeline (on the CPU), and say its family."""
    label = name or path.name
    parts, family = read_checkpoint(path, allow_pickle=allow_pickle, name=label)
    try:
        settings = read_config(config_folder(family, config), family, label)
        return build_pipeline(parts, family, settings, dtype, label), family
    finally:
        parts.close()
