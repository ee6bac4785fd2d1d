"""Generation parameters as A1111-style "parameters" text, and back.

The layout is the one AUTOMATIC1111's web UI writes into PNG text chunks, so other tools read
our images and we read theirs::

    <prompt, may span lines>
    Negative prompt: <negative, may span lines>
    Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 5.0, Seed: 42, Size: 512x512

Studio's own keys follow when they differ from the defaults, e.g. "Skip-Tuning: 1.0/0.9"
(the top/bottom factors, written only when Skip-Tuning is on).
Values holding a comma, colon, quote or line break are written as JSON strings. Parsing never
validates: out-of-range values come back as they were written, described in `warnings`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from studio.core.params import (
    GenerationParams,
    ScheduleOptions,
    Sigmas,
    Spacing,
    problems,
)
from studio.core.samplers import find_sampler
from studio.core.skip_tuning import SkipTuning

MAX_PARAMETERS_CHARS = 64 * 1024
NEGATIVE_PREFIX = "Negative prompt:"
SETTING_KEYS = (
    "Steps",
    "Sampler",
    "Schedule type",
    "CFG scale",
    "Seed",
    "Size",
    "Model",
    "Eta",
    "Classifier scale",
    "Timestep spacing",
    "Zero terminal SNR",
    "Batch size",
    "Skip-Tuning",
)

_DEFAULTS = GenerationParams()
_PAIR = re.compile(r'\s*(\w[\w \-/]*):\s*("(?:\\.|[^\\"])*"\s*(?=,|$)|[^,]*)(?:,|$)')
_INT = re.compile(r"[+-]?\d{1,18}")
_SIZE = re.compile(r"(\d{1,18})\s*[x×]\s*(\d{1,18})")
_EXTRA_KEY = re.compile(r"\w[\w \-/]*")
_MIN_SETTINGS_PAIRS = 3
_FAR = 2**31 - 1  # steps, sizes and batch sizes past this fit no setting (nor a C int)
_SIGMAS_NAMES = {Sigmas.karras: "Karras", Sigmas.exponential: "Exponential", Sigmas.beta: "Beta"}
_SIGMAS_SUFFIXES = frozenset(sigmas.value for sigmas in _SIGMAS_NAMES)
_SAMPLER_ALIASES = {"plms": "PNDM"}
_INT_KEYS = {"Steps": "num_inference_steps", "Seed": "seed", "Batch size": "batch_size"}
_FLOAT_KEYS = {
    "CFG scale": "guidance_scale",
    "Eta": "eta",
    "Classifier scale": "classifier_scale",
}
_KNOWN_BY_FOLDED = {key.casefold(): key for key in SETTING_KEYS}


class MetadataError(ValueError):
    """Parameters text or an image file that cannot be read or written, in one sentence."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedParameters:
    """What a parameters text says: the recipe, the model name, other keys, and what was odd.

    `source` names the tool when another tool's metadata was read ("ComfyUI", "InvokeAI"; empty
    for ours and A1111's), and `unmapped` lists, one sentence each, what it said that Studio
    could not map (those fields keep Studio's defaults)."""

    params: GenerationParams
    model: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    source: str = ""
    unmapped: tuple[str, ...] = ()


def format_parameters(
    params: GenerationParams, *, model: str = "", extra: Mapping[str, str] | None = None
) -> str:
    """The A1111 "parameters" text for `params`, naming `model` and appending `extra` keys."""
    lines = [params.prompt]
    if params.negative_prompt:
        lines.append(f"{NEGATIVE_PREFIX} {params.negative_prompt}")
    pairs = _settings_pairs(params, model) + _extra_pairs(extra or {})
    lines.append(", ".join(f"{key}: {_quote(value)}" for key, value in pairs))
    return "\n".join(lines)


def _settings_pairs(params: GenerationParams, model: str) -> list[tuple[str, str]]:
    schedule = params.schedule
    spec = find_sampler(params.sampler) if isinstance(params.sampler, str) else None
    pairs = [("Steps", str(params.num_inference_steps)), ("Sampler", str(params.sampler))]
    if schedule.sigmas != Sigmas.default:
        pairs.append(("Schedule type", _SIGMAS_NAMES.get(schedule.sigmas, str(schedule.sigmas))))
    pairs += [
        ("CFG scale", _format_float(params.guidance_scale)),
        ("Seed", str(params.seed)),
        ("Size", f"{params.width}x{params.height}"),
    ]
    if model:
        pairs.append(("Model", model))
    if (spec is not None and spec.uses_eta) or params.eta != 0:
        pairs.append(("Eta", _format_float(params.eta)))
    if params.classifier_scale != 0:
        pairs.append(("Classifier scale", _format_float(params.classifier_scale)))
    if schedule.spacing != Spacing.default:
        pairs.append(("Timestep spacing", str(schedule.spacing)))
    if schedule.rescale_zero_snr:
        pairs.append(("Zero terminal SNR", "True"))
    if params.batch_size != 1:
        pairs.append(("Batch size", str(params.batch_size)))
    if isinstance(params.skip_tuning, SkipTuning) and params.skip_tuning.enabled:
        pairs.append(("Skip-Tuning", params.skip_tuning.label()))
    return pairs


def _extra_pairs(extra: Mapping[str, str]) -> list[tuple[str, str]]:
    pairs = []
    for key, value in extra.items():
        if not isinstance(key, str) or not _EXTRA_KEY.fullmatch(key) or key != key.strip():
            raise MetadataError(
                f"The extra key {key!r} is not a plain name of letters, digits, spaces, - and /."
            )
        if key.casefold() in _KNOWN_BY_FOLDED:
            raise MetadataError(f"The extra key {key!r} clashes with a generation setting.")
        pairs.append((key, str(value)))
    return pairs


def _format_float(value: float) -> str:
    return repr(float(value))


def _quote(value: str) -> str:
    needs_quotes = (
        not value
        or value != value.strip()
        or any(c in ',:"' or (c.isspace() and c != " ") for c in value)
    )
    return json.dumps(value, ensure_ascii=False) if needs_quotes else value


def parse_parameters(text: str) -> ParsedParameters:
    """Read a parameters text written by us or by A1111-compatible tools; raise MetadataError."""
    _check_text(text)
    body, pairs, junk = _split_body(text.replace("\r\n", "\n").split("\n"))
    prompt, negative = _split_prompts(body)
    warnings = [f"Ignored {_short(j)} in the settings line." for j in junk]
    if not pairs:
        warnings.append("No settings line was found, so the defaults are used.")
    known, extra = _split_known_keys(pairs, warnings)
    fields = _read_fields(known, warnings)
    params = GenerationParams(prompt=prompt, negative_prompt=negative, **fields)
    warnings += _range_warnings(params)
    return ParsedParameters(
        params=params,
        model=known.get("Model", ""),
        extra=extra,
        warnings=tuple(dict.fromkeys(warnings)),
    )


def _check_text(text: object) -> None:
    if not isinstance(text, str):
        raise MetadataError(f"The parameters must be text, not {type(text).__name__}.")
    if len(text) > MAX_PARAMETERS_CHARS:
        raise MetadataError(
            f"The parameters text has {len(text)} characters, more than the"
            f" {MAX_PARAMETERS_CHARS} allowed."
        )
    if "\x00" in text:
        raise MetadataError("The parameters text contains a NUL character.")


def _split_body(lines: list[str]) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """The prompt lines, and the pairs and junk of the settings line when the last line is one."""
    while len(lines) > 1 and not lines[-1].strip():
        lines.pop()
    pairs, junk = _split_settings(lines[-1])
    if len(pairs) >= _MIN_SETTINGS_PAIRS:
        return lines[:-1], pairs, junk
    return lines, [], []


def _split_prompts(body: list[str]) -> tuple[str, str]:
    for index, line in enumerate(body):
        if line.startswith(NEGATIVE_PREFIX):
            first = line.removeprefix(NEGATIVE_PREFIX).removeprefix(" ")
            return "\n".join(body[:index]), "\n".join([first, *body[index + 1 :]])
    return "\n".join(body), ""


def _split_settings(line: str) -> tuple[list[tuple[str, str]], list[str]]:
    pairs: list[tuple[str, str]] = []
    junk: list[str] = []
    pos = 0
    while pos < len(line):
        match = _PAIR.match(line, pos)
        if match:
            pairs.append((match[1].strip(), _unquote(match[2].strip())))
            pos = match.end()
            continue
        comma = line.find(",", pos)
        end = len(line) if comma < 0 else comma + 1
        if line[pos:end].strip(" ,"):
            junk.append(line[pos:end].strip(" ,"))
        pos = end
    return pairs, junk


def _unquote(value: str) -> str:
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    try:
        text = json.loads(value)
        text.encode("utf-8")
    except ValueError:  # not JSON, or a lone surrogate such as "\ud800"
        return value
    return text


def _split_known_keys(
    pairs: list[tuple[str, str]], warnings: list[str]
) -> tuple[dict[str, str], dict[str, str]]:
    known: dict[str, str] = {}
    extra: dict[str, str] = {}
    for key, value in pairs:
        canonical = _KNOWN_BY_FOLDED.get(key.casefold())
        target, name = (known, canonical) if canonical else (extra, key)
        if name in target:
            warnings.append(f"The key {_short(key)} appears twice, so the last value is used.")
        target[name] = value
    return known, extra


def _read_fields(known: dict[str, str], warnings: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, name in _INT_KEYS.items():
        fields[name] = _read_int(known, key, getattr(_DEFAULTS, name), warnings)
    for key, name in _FLOAT_KEYS.items():
        fields[name] = _read_float(known, key, getattr(_DEFAULTS, name), warnings)
    fields["width"], fields["height"] = _read_size(known.get("Size"), warnings)
    sigmas = _read_sigmas(known.get("Schedule type"), warnings)
    fields["sampler"], sigmas = _resolve_sampler(known.get("Sampler"), sigmas, warnings)
    fields["schedule"] = ScheduleOptions(
        sigmas=sigmas,
        spacing=_read_spacing(known.get("Timestep spacing"), warnings),
        rescale_zero_snr=_read_bool(known, "Zero terminal SNR", warnings),
    )
    fields["skip_tuning"] = _read_skip_tuning(known.get("Skip-Tuning"), warnings)
    return fields


def _read_int(known: dict[str, str], key: str, default: int, warnings: list[str]) -> int:
    value = known.get(key)
    if value is None:
        return default
    if not _INT.fullmatch(value):
        warnings.append(f"{key} {_short(value)} is not a whole number, so {default} is used.")
        return default
    number = int(value)
    if key != "Seed" and abs(number) > _FAR:
        warnings.append(f"{key} {_short(value)} is far out of range, so {default} is used.")
        return default
    return number


def _read_float(known: dict[str, str], key: str, default: float, warnings: list[str]) -> float:
    value = known.get(key)
    if value is None:
        return default
    try:
        number = float(value) if len(value) <= 40 else math.nan
    except ValueError:
        number = math.nan
    if math.isfinite(number):
        return number
    warnings.append(f"{key} {_short(value)} is not a finite number, so {default} is used.")
    return default


def _finite_number(text: str) -> float | None:
    try:
        number = float(text) if len(text) <= 40 else math.nan
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _read_skip_tuning(value: str | None, warnings: list[str]) -> SkipTuning:
    if value is None:
        return SkipTuning()
    top, slash, bottom = value.partition("/")
    factors = (_finite_number(top), _finite_number(bottom)) if slash else (None, None)
    if factors[0] is None or factors[1] is None:
        warnings.append(f"Skip-Tuning {_short(value)} is not TOP/BOTTOM factors, so it is off.")
        return SkipTuning()
    return SkipTuning(rho_top=factors[0], rho_bottom=factors[1])


def _read_size(value: str | None, warnings: list[str]) -> tuple[int, int]:
    default = (_DEFAULTS.width, _DEFAULTS.height)
    if value is None:
        return default
    match = _SIZE.fullmatch(value)
    width, height = default
    if match and max(int(match[1]), int(match[2])) > _FAR:
        warnings.append(f"Size {_short(value)} is far out of range, so {width}x{height} is used.")
        return default
    if match:
        return int(match[1]), int(match[2])
    warnings.append(f"Size {_short(value)} is not WIDTHxHEIGHT, so {width}x{height} is used.")
    return default


def _read_bool(known: dict[str, str], key: str, warnings: list[str]) -> bool:
    value = known.get(key, "False")
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    warnings.append(f"{key} {_short(value)} is neither True nor False, so False is used.")
    return False


def _read_spacing(value: str | None, warnings: list[str]) -> Spacing:
    if value is None:
        return Spacing.default
    try:
        return Spacing(value.strip().lower())
    except ValueError:
        warnings.append(f"Timestep spacing {_short(value)} is unknown, so the default is used.")
        return Spacing.default


def _read_sigmas(value: str | None, warnings: list[str]) -> Sigmas:
    if value is None or value.lower() in ("", "automatic", "default"):
        return Sigmas.default
    try:
        return Sigmas(value.lower())
    except ValueError:
        warnings.append(f"Schedule type {_short(value)} is not supported, so the default is used.")
        return Sigmas.default


def _resolve_sampler(value: str | None, sigmas: Sigmas, warnings: list[str]) -> tuple[str, Sigmas]:
    """Our catalogue name for an A1111 sampler and schedule type, e.g. DPM++ 2M + Karras."""
    if value is None:
        return _DEFAULTS.sampler, sigmas
    name = _SAMPLER_ALIASES.get(value.lower(), value)
    spec = find_sampler(name)
    if spec is None:
        base, base_sigmas = _split_schedule_suffix(name, sigmas)
        if (spec := find_sampler(base)) is None:
            warnings.append(f"Unknown sampler {_short(value)} is kept as written.")
            return value, sigmas
        sigmas = base_sigmas
    combined = find_sampler(f"{spec.name} {sigmas.value}") if sigmas != Sigmas.default else None
    if combined is not None:
        return combined.name, Sigmas.default
    return spec.name, sigmas


def _split_schedule_suffix(name: str, sigmas: Sigmas) -> tuple[str, Sigmas]:
    base, _, suffix = name.rpartition(" ")
    if base and sigmas == Sigmas.default and suffix.lower() in _SIGMAS_SUFFIXES:
        return base, Sigmas(suffix.lower())
    return name, sigmas


def _range_warnings(params: GenerationParams) -> list[str]:
    known_sampler = find_sampler(params.sampler) is not None
    probe = params if known_sampler else params.with_(sampler=_DEFAULTS.sampler)
    return problems(probe)


def _short(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


def to_json_dict(parsed: ParsedParameters) -> dict[str, Any]:
    """`parsed` as plain JSON values, for `studio params IMAGE`."""
    p = parsed.params
    return {
        "prompt": p.prompt,
        "negative_prompt": p.negative_prompt,
        "sampler": p.sampler,
        "num_inference_steps": p.num_inference_steps,
        "guidance_scale": p.guidance_scale,
        "eta": p.eta,
        "classifier_scale": p.classifier_scale,
        "seed": p.seed,
        "width": p.width,
        "height": p.height,
        "batch_size": p.batch_size,
        "schedule": {
            "sigmas": Sigmas(p.schedule.sigmas).value,
            "spacing": Spacing(p.schedule.spacing).value,
            "rescale_zero_snr": bool(p.schedule.rescale_zero_snr),
        },
        "skip_tuning": {"rho_top": p.skip_tuning.rho_top, "rho_bottom": p.skip_tuning.rho_bottom},
        "model": parsed.model,
        "extra": dict(parsed.extra),
        "warnings": list(parsed.warnings),
        "source": parsed.source or "Studio/A1111",
        "unmapped": list(parsed.unmapped),
    }
