"""The user's settings as a frozen value, saved as JSON in the platform's config folder.

Reading is forgiving: a missing key, an unknown key or a value of the wrong type falls back to
that field's default with a warning. A file that is not JSON at all (bad UTF-8, NaN, 1e999,
absurd nesting, a list instead of an object) is renamed aside and the defaults are used, with a
one-sentence notice for the user. Writing is atomic: a temporary file in the same folder is
flushed, synced and renamed over the old one.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import platformdirs

from studio.core.atomic import atomic_write_text
from studio.core.engine_options import (
    MAX_BUDGET_MB,
    MAX_CACHED_MODELS,
    Device,
    EngineOptions,
    Offload,
)
from studio.core.jobs import PreviewDecoder
from studio.core.json_files import JsonFileError, parse_json
from studio.core.models import EMBEDDED_SIDE, EMBEDDED_STUDENT, EMBEDDED_TEACHER
from studio.core.params import GenerationParams, ScheduleOptions, Sigmas, Spacing, problems
from studio.core.pickle_permissions import PicklePermissions
from studio.core.remote_api import EngineAddress
from studio.core.skip_tuning import SkipTuning
from studio.core.wording import is_unicode, shown

log = logging.getLogger(__name__)

SETTINGS_VERSION = 1
MAX_SETTINGS_BYTES = 1024 * 1024
MAX_BATCH_COUNT = 100
MAX_PREVIEW_EVERY = 1000
MAX_PATH_CHARS = 4096
DEFAULT_PROMPT = "grinning face, smileys & emotion, face smiling, noto style"


class SeedMode(StrEnum):
    """How the seed changes from one job to the next."""

    fixed = "fixed"
    random = "random"
    increment = "increment"


class PreviewKind(StrEnum):
    """Which step preview a pane shows: the predicted clean image or the noisy sample."""

    x0 = "x0"
    xt = "xt"


class Upscale(StrEnum):
    """How small images are enlarged on screen."""

    nearest = "nearest"
    smooth = "smooth"


@dataclass(frozen=True, slots=True, kw_only=True)
class SharedParams:
    """What both lanes of a comparison share: prompts, seed and size."""

    prompt: str = DEFAULT_PROMPT
    negative_prompt: str = ""
    seed: int = 0
    width: int = EMBEDDED_SIDE
    height: int = EMBEDDED_SIDE


class RecommendsRecipe(Protocol):
    """What names a sampler recipe for a model: an adapter manifest, a model preset."""

    @property
    def sampler(self) -> str: ...
    @property
    def num_inference_steps(self) -> int: ...
    @property
    def guidance_scale(self) -> float: ...
    @property
    def eta(self) -> float: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class LaneRecipe:
    """One lane's sampler recipe."""

    sampler: str
    num_inference_steps: int
    guidance_scale: float
    eta: float = 0.0
    classifier_scale: float = 0.0
    schedule: ScheduleOptions = field(default_factory=ScheduleOptions)
    skip_tuning: SkipTuning = field(default_factory=SkipTuning)

    @classmethod
    def recommended_by(cls, source: RecommendsRecipe) -> LaneRecipe:
        """The sampler, step count, CFG and eta that `source` recommends."""
        return cls(
            sampler=source.sampler,
            num_inference_steps=source.num_inference_steps,
            guidance_scale=source.guidance_scale,
            eta=source.eta,
        )

    def params(self, shared: SharedParams, batch_size: int = 1) -> GenerationParams:
        """The full generation parameters of this recipe with the shared values."""
        return GenerationParams(
            prompt=shared.prompt,
            negative_prompt=shared.negative_prompt,
            seed=shared.seed,
            width=shared.width,
            height=shared.height,
            batch_size=batch_size,
            sampler=self.sampler,
            num_inference_steps=self.num_inference_steps,
            guidance_scale=self.guidance_scale,
            eta=self.eta,
            classifier_scale=self.classifier_scale,
            schedule=self.schedule,
            skip_tuning=self.skip_tuning,
        )

    def label(self) -> str:
        """`SAMPLER, N steps, CFG G`, with classifier guidance and Skip-Tuning when on."""
        text = f"{self.sampler}, {self.num_inference_steps} steps, CFG {self.guidance_scale:g}"
        if self.classifier_scale:
            text += f", classifier guidance {self.classifier_scale:g}"
        if self.skip_tuning.enabled:
            text += f", Skip-Tuning {self.skip_tuning.label()}"
        return text

    @classmethod
    def from_params(cls, params: GenerationParams) -> LaneRecipe:
        return cls(
            sampler=params.sampler,
            num_inference_steps=params.num_inference_steps,
            guidance_scale=params.guidance_scale,
            eta=params.eta,
            classifier_scale=params.classifier_scale,
            schedule=params.schedule,
            skip_tuning=params.skip_tuning,
        )


def default_teacher() -> LaneRecipe:
    return LaneRecipe(sampler="DPM++ 2M", num_inference_steps=25, guidance_scale=3.0)


def default_student() -> LaneRecipe:
    return LaneRecipe(sampler="DDIM trailing", num_inference_steps=4, guidance_scale=1.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the studio remembers between sessions (window geometry lives in QSettings)."""

    shared: SharedParams = field(default_factory=SharedParams)
    teacher: LaneRecipe = field(default_factory=default_teacher)
    student: LaneRecipe = field(default_factory=default_student)
    seed_mode: SeedMode = SeedMode.fixed
    batch_count: int = 1
    compare_mode: bool = True
    preview_every: int = 1
    preview_kind: PreviewKind = PreviewKind.x0
    preview_decoder: PreviewDecoder = PreviewDecoder.linear
    tiny_vae_dir: str = ""
    tiny_vae_download: bool = False
    upscale: Upscale = Upscale.nearest
    output_dir: str = ""
    teacher_model: str = EMBEDDED_TEACHER
    student_model: str = EMBEDDED_STUDENT
    engine: EngineOptions = field(default_factory=EngineOptions)
    models_folder: str = ""
    pickle_permissions: PicklePermissions = field(default_factory=PicklePermissions)
    welcomed: bool = False
    engine_url: str = ""


# --- to JSON ---------------------------------------------------------------------------------


def _schedule_json(schedule: ScheduleOptions) -> dict[str, Any]:
    return {
        "sigmas": Sigmas(schedule.sigmas).value,
        "spacing": Spacing(schedule.spacing).value,
        "rescale_zero_snr": bool(schedule.rescale_zero_snr),
    }


def _recipe_json(recipe: LaneRecipe) -> dict[str, Any]:
    return {
        "sampler": recipe.sampler,
        "num_inference_steps": recipe.num_inference_steps,
        "guidance_scale": recipe.guidance_scale,
        "eta": recipe.eta,
        "classifier_scale": recipe.classifier_scale,
        "schedule": _schedule_json(recipe.schedule),
        "skip_tuning": {
            "rho_top": float(recipe.skip_tuning.rho_top),
            "rho_bottom": float(recipe.skip_tuning.rho_bottom),
        },
    }


def settings_to_json(settings: Settings) -> dict[str, Any]:
    """`settings` as plain JSON values, with a format version."""
    data: dict[str, Any] = {"version": SETTINGS_VERSION}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if isinstance(value, LaneRecipe):
            data[f.name] = _recipe_json(value)
        elif isinstance(value, PicklePermissions):
            data[f.name] = value.to_json()
        elif isinstance(value, SharedParams | EngineOptions):
            data[f.name] = {g.name: _plain(getattr(value, g.name)) for g in fields(value)}
        else:
            data[f.name] = _plain(value)
    return data


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, StrEnum) else value


# --- from JSON -------------------------------------------------------------------------------

Reader = Callable[[Any], Any]
Readers = Mapping[str, "Reader | Readers"]
_FLOAT_PARAMS = frozenset({"guidance_scale", "eta", "classifier_scale"})


class _Bad(ValueError):
    """A value that cannot be used for its field; the message says why."""


def _whole_to_float(value: Any) -> Any:
    """A whole number as a float (JSON writes 3.0 as 3); other values unchanged."""
    if not isinstance(value, int) or isinstance(value, bool):
        return value
    try:
        return float(value)
    except OverflowError:
        raise _Bad(f"{_short(value)} is far out of range.") from None


def _param_value(name: str) -> Reader:
    """Check a value as the GenerationParams field `name` would be checked."""

    def read(value: Any) -> Any:
        if name in _FLOAT_PARAMS:
            value = _whole_to_float(value)
        found = problems(GenerationParams().with_(**{name: value}))
        if found:
            raise _Bad(found[0])
        return value

    return read


def _skip_factor(name: str) -> Reader:
    """Check a value as the SkipTuning field `name` would be checked."""

    def read(value: Any) -> Any:
        value = _whole_to_float(value)
        found = SkipTuning(**{name: value}).problems()
        if found:
            raise _Bad(found[0])
        return value

    return read


def _enum_value(kind: type[StrEnum]) -> Reader:
    def read(value: Any) -> Any:
        try:
            return kind(value)
        except ValueError:
            names = ", ".join(member.value for member in kind)
            raise _Bad(f"{_short(value)} is not one of {names}.") from None

    return read


def _int_value(low: int, high: int) -> Reader:
    def read(value: Any) -> Any:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise _Bad(f"{_short(value)} is not a whole number from {low} to {high}.")
        return value

    return read


def _bool_value(value: Any) -> Any:
    if not isinstance(value, bool):
        raise _Bad(f"{_short(value)} is neither true nor false.")
    return value


def _text_value(allow_empty: bool) -> Reader:
    def read(value: Any) -> Any:
        usable = isinstance(value, str) and "\x00" not in value and len(value) <= MAX_PATH_CHARS
        if not usable or not is_unicode(value):
            raise _Bad(f"{_short(value)} is not a usable text.")
        if not allow_empty and not value.strip():
            raise _Bad("an empty name cannot be used.")
        return value

    return read


def _engine_url_value(value: Any) -> Any:
    """A served engine's URL the user chose to remember, or "" for none."""
    text = _text_value(allow_empty=True)(value)
    if text:
        try:
            EngineAddress.parse(text)
        except ValueError as exc:
            raise _Bad(str(exc).rstrip(".")) from None
    return text


def _permissions_value(value: Any) -> Any:
    try:
        return PicklePermissions.from_json(value)
    except ValueError as exc:
        raise _Bad(f"{exc}; you will be asked again for each pickle file") from None


def _short(value: Any, limit: int = 40) -> str:
    return shown(value, limit)


_SCHEDULE_READERS: Readers = {
    "sigmas": _enum_value(Sigmas),
    "spacing": _enum_value(Spacing),
    "rescale_zero_snr": _bool_value,
}
_SKIP_TUNING_READERS: Readers = {n: _skip_factor(n) for n in ("rho_top", "rho_bottom")}
_RECIPE_READERS: Readers = {
    **{
        n: _param_value(n)
        for n in ("sampler", "num_inference_steps", "guidance_scale", "eta", "classifier_scale")
    },
    "schedule": _SCHEDULE_READERS,
    "skip_tuning": _SKIP_TUNING_READERS,
}
_SHARED_READERS: Readers = {
    n: _param_value(n) for n in ("prompt", "negative_prompt", "seed", "width", "height")
}
_ENGINE_READERS: Readers = {
    "device": _enum_value(Device),
    "offload": _enum_value(Offload),
    "ram_budget_mb": _int_value(0, MAX_BUDGET_MB),
    "gpu_budget_mb": _int_value(0, MAX_BUDGET_MB),
    "max_models": _int_value(1, MAX_CACHED_MODELS),
}
_SETTINGS_READERS: Readers = {
    "shared": _SHARED_READERS,
    "teacher": _RECIPE_READERS,
    "student": _RECIPE_READERS,
    "seed_mode": _enum_value(SeedMode),
    "batch_count": _int_value(1, MAX_BATCH_COUNT),
    "compare_mode": _bool_value,
    "preview_every": _int_value(0, MAX_PREVIEW_EVERY),
    "preview_kind": _enum_value(PreviewKind),
    "preview_decoder": _enum_value(PreviewDecoder),
    "tiny_vae_dir": _text_value(allow_empty=True),
    "tiny_vae_download": _bool_value,
    "upscale": _enum_value(Upscale),
    "output_dir": _text_value(allow_empty=True),
    "teacher_model": _text_value(allow_empty=False),
    "student_model": _text_value(allow_empty=False),
    "engine": _ENGINE_READERS,
    "models_folder": _text_value(allow_empty=True),
    "pickle_permissions": _permissions_value,
    "welcomed": _bool_value,
    "engine_url": _engine_url_value,
}


def _read_object(data: Any, default: Any, readers: Readers, where: str, warnings: list[str]) -> Any:
    """`default` with the usable values of the JSON object `data`; a warning for each other."""
    if not isinstance(data, dict):
        warnings.append(f"The setting {where!r} is not an object, so its defaults are used.")
        return default
    for key in sorted(data.keys() - readers.keys() - {"version"}):
        warnings.append(f"The unknown setting {_short(f'{where}.{key}'.lstrip('.'))} is ignored.")
    values: dict[str, Any] = {}
    for key, read in readers.items():
        label = f"{where}.{key}".lstrip(".")
        if key not in data:
            continue
        if isinstance(read, Mapping):
            values[key] = _read_object(data[key], getattr(default, key), read, label, warnings)
            continue
        try:
            values[key] = read(data[key])
        except _Bad as bad:
            warnings.append(f"The setting {label!r} is not usable ({bad}), so the default is used.")
    return replace(default, **values)


def recipe_from_json(data: Any, where: str) -> tuple[LaneRecipe, list[str]]:
    """A lane recipe from parsed JSON (teacher defaults), and a warning per unusable value."""
    warnings: list[str] = []
    recipe = _read_object(data, default_teacher(), _RECIPE_READERS, where, warnings)
    return recipe, warnings


def recipe_to_json(recipe: LaneRecipe) -> dict[str, Any]:
    return _recipe_json(recipe)


def settings_from_json(data: Any) -> tuple[Settings, list[str]]:
    """Settings from parsed JSON, and one warning for each value that could not be used."""
    warnings: list[str] = []
    settings = _read_object(data, Settings(), _SETTINGS_READERS, "", warnings)
    return settings, warnings


# --- files -----------------------------------------------------------------------------------


def default_settings_path() -> Path:
    return Path(platformdirs.user_config_dir("studio")) / "settings.json"


class _Corrupt(ValueError):
    """The settings file cannot be read as a JSON object."""


def _parse_file(raw: bytes) -> dict[str, Any]:
    try:
        data = parse_json(raw, max_bytes=MAX_SETTINGS_BYTES)
    except JsonFileError as exc:
        raise _Corrupt(str(exc)) from None
    if not isinstance(data, dict):
        raise _Corrupt(f"it holds a JSON {type(data).__name__} instead of an object")
    return data


def _aside_path(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = path.with_name(f"{path.stem}.corrupt-{stamp}{path.suffix}")
    number = 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}.corrupt-{stamp}-{number}{path.suffix}")
        number += 1
    return candidate


def _set_aside(path: Path, reason: str) -> str:
    """Rename a bad settings file out of the way; the notice for the user."""
    aside = _aside_path(path)
    try:
        os.replace(path, aside)
    except OSError as exc:
        log.warning("could not move %s aside: %s", path, exc)
        return (
            f"The settings file {path} could not be used ({reason}) nor moved aside"
            f" ({exc.strerror or exc}), so the defaults are used for now."
        )
    return (
        f"The settings file could not be used ({reason}), so the defaults are used;"
        f" the old file was kept as {aside}."
    )


def load_settings(path: str | os.PathLike[str]) -> tuple[Settings, str | None]:
    """The settings saved at `path`, and a notice for the user when the file was unusable.

    A missing file gives the defaults and no notice. Values that are merely wrong are reset
    field by field and logged; a file that is not a JSON object is renamed aside.
    """
    source = Path(path)
    try:
        raw = source.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return Settings(), None
    except OSError as exc:
        return Settings(), _set_aside(source, f"it could not be read: {exc.strerror or exc}")
    try:
        data = _parse_file(raw)
    except _Corrupt as exc:
        return Settings(), _set_aside(source, str(exc))
    settings, warnings = settings_from_json(data)
    for warning in warnings:
        log.warning("%s: %s", source, warning)
    return settings, None


def peek_settings(path: str | os.PathLike[str]) -> Settings:
    """The settings saved at `path` without touching the file (no warnings, nothing set
    aside): the defaults when it is missing or unusable. For work that must start before the
    window loads the settings properly (the engine process); the window's load reports."""
    try:
        settings, _ = settings_from_json(_parse_file(Path(path).read_bytes()))
    except (OSError, _Corrupt):
        return Settings()
    return settings


def save_settings(path: str | os.PathLike[str], settings: Settings) -> Path:
    """Write `settings` to `path` atomically (temp file, flush, fsync, rename); raise OSError."""
    text = json.dumps(settings_to_json(settings), indent=2, ensure_ascii=False) + "\n"
    return atomic_write_text(path, text)
