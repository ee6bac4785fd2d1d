"""What can be known about a model from its name and small files, without loading it.

A model's kind (VP or flow matching) decides which samplers can run it; whether it was
distilled for consistency sampling decides whether LCM and TCD make sense on it; the embedded
emoji models only understand emoji names. The window uses these facts to grey out samplers and
warn while the user edits; the engine uses `model_kind_of` on the loaded scheduler config, so
both follow one rule. Anything that cannot be told from files leaves the fact unknown (None).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from studio.core.emoji_vocabulary import EmojiVocabulary
from studio.core.json_files import JsonFileError, read_json
from studio.core.manifest import MANIFEST, ManifestError, read_manifest
from studio.core.model_names import NameKind, parse_model_name
from studio.core.model_presets import PresetCatalogue
from studio.core.preset_schema import ModelPreset
from studio.core.samplers import ModelKind, SamplerSpec, find_sampler

SCHEDULER_CONFIG = Path("scheduler") / "scheduler_config.json"
CONSISTENCY_SCHEDULERS = frozenset({"LCMScheduler", "TCDScheduler"})
FAMILY_KINDS: Mapping[str, ModelKind] = {
    "sd15": ModelKind.vp,
    "sd21": ModelKind.vp,
    "sdxl": ModelKind.vp,
    "sd3": ModelKind.flow,
    "flux": ModelKind.flow,
}
KIND_PHRASES = {ModelKind.vp: "a DDPM-family (VP)", ModelKind.flow: "a flow-matching"}
KIND_PLURALS = {ModelKind.vp: "DDPM-family (VP) models", ModelKind.flow: "flow-matching models"}
MAX_CONFIG_BYTES = 100_000
MAX_BASE_DEPTH = 2

Presets = Callable[[], PresetCatalogue]


def model_kind_of(scheduler_config: Mapping[str, Any]) -> ModelKind:
    """Flow matching for FlowMatch* schedulers and flow-sigma configs, else the VP family."""
    name = str(scheduler_config.get("_class_name", ""))
    if name.startswith("FlowMatch") or scheduler_config.get("use_flow_sigmas"):
        return ModelKind.flow
    if scheduler_config.get("prediction_type") == "flow_prediction":
        return ModelKind.flow
    return ModelKind.vp


def misfit_sentence(spec: SamplerSpec, kind: ModelKind, model_name: str) -> str:
    """Why `spec` cannot run a `kind` model, in one sentence; "" when it can."""
    if kind in spec.kinds:
        return ""
    wanted = " or ".join(KIND_PLURALS[k] for k in sorted(spec.kinds))
    return f"'{spec.name}' is for {wanted}; {model_name} is {KIND_PHRASES[kind]} model."


def is_consistency_sampler(spec: SamplerSpec) -> bool:
    """LCM and TCD: samplers made for a few steps of a consistency-distilled model."""
    return spec.scheduler in CONSISTENCY_SCHEDULERS


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelFacts:
    """What is known about one model; None where it cannot be told without loading it.

    `consistency_distilled`: made to be sampled by LCM or TCD (an LCM student, a TCD LoRA).
    `vocabulary`: the emoji names an embedded emoji model understands (None for other models).
    """

    label: str = ""
    kind: ModelKind | None = None
    consistency_distilled: bool | None = None
    vocabulary: EmojiVocabulary | None = None

    def misfit(self, spec: SamplerSpec) -> str:
        """Why `spec` cannot run this model, in one sentence; "" when it can or nobody knows."""
        return "" if self.kind is None else misfit_sentence(spec, self.kind, self.label)

    def sampler_misfit(self, sampler: str) -> str:
        spec = find_sampler(sampler) if isinstance(sampler, str) else None
        return self.misfit(spec) if spec is not None else ""


UNKNOWN = ModelFacts()


def _scheduler_facts(folder: Path) -> tuple[ModelKind | None, bool | None]:
    try:
        config = read_json(folder / SCHEDULER_CONFIG, max_bytes=MAX_CONFIG_BYTES)
    except (OSError, JsonFileError):
        return None, None
    if not isinstance(config, dict):
        return None, None
    consistency = str(config.get("_class_name", "")) in CONSISTENCY_SCHEDULERS
    return model_kind_of(config), consistency or None


def _adapter_facts(folder: Path, depth: int) -> ModelFacts:
    """An adapter folder's facts: its base's kind, consistency from its recipe or method."""
    try:
        manifest = read_manifest(folder)
    except (ManifestError, OSError):
        return UNKNOWN
    if manifest is None:
        return UNKNOWN
    base = _folder_facts(folder.parent / manifest.base, depth + 1)
    spec = find_sampler(manifest.sampler)
    consistency = (spec is not None and is_consistency_sampler(spec)) or (
        "consistency" in manifest.method.lower()
    )
    return replace(base, consistency_distilled=consistency)


def _folder_facts(folder: Path, depth: int = 0) -> ModelFacts:
    if depth > MAX_BASE_DEPTH or not folder.is_dir():
        return UNKNOWN
    if (folder / MANIFEST).is_file():
        return _adapter_facts(folder, depth)
    kind, consistency = _scheduler_facts(folder)
    return ModelFacts(label=folder.name, kind=kind, consistency_distilled=consistency)


def _embedded_facts(name: str, root: Path, vocabulary: EmojiVocabulary | None) -> ModelFacts:
    """A model shipped with the studio: an emoji model (VP), distilled only where its adapter
    manifest says so."""
    folder = root / name
    if not folder.is_dir():
        return replace(UNKNOWN, label=name)
    found = _folder_facts(folder)
    return ModelFacts(
        label=name,
        kind=found.kind or ModelKind.vp,
        consistency_distilled=bool(found.consistency_distilled),
        vocabulary=vocabulary,
    )


def _preset_facts(preset: ModelPreset) -> ModelFacts:
    return ModelFacts(
        label=preset.name,
        kind=FAMILY_KINDS.get(preset.family),
        consistency_distilled=preset.scheduler in CONSISTENCY_SCHEDULERS,
    )


def _hub_facts(name: str, presets: Presets | None) -> ModelFacts:
    """A hub id: the family of a preset whose teacher (base) it is; plain teachers are not
    consistency-distilled."""
    bases = [p for p in presets().presets if p.base == name] if presets is not None else []
    kinds = {FAMILY_KINDS.get(p.family) for p in bases}
    if len(kinds) != 1:
        return replace(UNKNOWN, label=name)
    return ModelFacts(label=name, kind=kinds.pop(), consistency_distilled=False)


def model_facts(
    name: str,
    *,
    models_root: Path,
    presets: Presets | None = None,
    vocabulary: EmojiVocabulary | None = None,
) -> ModelFacts:
    """The facts of a model name as the session uses it (see `studio.core.model_names`):
    `preset:<name>`, a LoRA student, a folder, a single file, an embedded name or a hub id.
    `presets` is asked for the catalogue only for preset names and hub ids."""
    parsed = parse_model_name(name)
    match parsed.kind:
        case NameKind.preset:
            preset = presets().find(parsed.location) if presets is not None else None
            return (
                _preset_facts(preset) if preset is not None else replace(UNKNOWN, label=parsed.text)
            )
        case NameKind.lora:
            base = model_facts(
                parsed.location, models_root=models_root, presets=presets, vocabulary=vocabulary
            )
            label = f"{base.label} + {Path(parsed.lora).name}"
            return replace(base, label=label, consistency_distilled=None)
        case NameKind.folder:
            path = Path(parsed.location)
            return replace(_folder_facts(path), label=path.name)
        case NameKind.file | NameKind.empty:
            return replace(UNKNOWN, label=Path(parsed.location).name)
        case NameKind.embedded:
            return _embedded_facts(parsed.location, Path(models_root), vocabulary)
        case NameKind.hub:
            return _hub_facts(parsed.location, presets)
    return replace(UNKNOWN, label=parsed.text)
