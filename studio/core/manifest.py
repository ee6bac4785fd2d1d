"""Adapter folders: a student stored as a LoRA on a base model, described by a small JSON file."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.json_files import JsonFileError, read_json
from studio.core.wording import shown

MANIFEST = "studio_adapter.json"
FORMAT = 1
MAX_MANIFEST_BYTES = 100_000


class ManifestError(ValueError):
    """An adapter manifest that cannot be used, in one sentence."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AdapterManifest:
    """What an adapter folder holds: its base model, LoRA file and recommended recipe."""

    base: str
    lora: str
    method: str = ""
    guidance_distilled: bool = False
    sampler: str = "DDIM trailing"
    num_inference_steps: int = 4
    guidance_scale: float = 1.0
    eta: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "base": self.base,
            "lora": self.lora,
            "method": self.method,
            "guidance_distilled": self.guidance_distilled,
            "recipe": {
                "sampler": self.sampler,
                "num_inference_steps": self.num_inference_steps,
                "guidance_scale": self.guidance_scale,
                "eta": self.eta,
            },
        }


def _plain_file_name(value: object, field: str) -> str:
    if (
        not isinstance(value, str)
        or not value
        or "/" in value
        or "\\" in value
        or value in {".", ".."}
    ):
        raise ManifestError(f"The adapter's {field} must be a plain file or folder name.")
    return value


def _recipe(data: dict[str, Any]) -> dict[str, Any]:
    recipe = data.get("recipe", {})
    if not isinstance(recipe, dict):
        raise ManifestError("The adapter's recipe must be a JSON object.")
    out: dict[str, Any] = {}
    for key, kind in (
        ("sampler", str),
        ("num_inference_steps", int),
        ("guidance_scale", float),
        ("eta", float),
    ):
        if key in recipe:
            value = recipe[key]
            ok = isinstance(value, kind) or (kind is float and isinstance(value, int))
            if not ok or isinstance(value, bool):
                raise ManifestError(f"The adapter's recipe field {key} has the wrong type.")
            out[key] = _converted(kind, value, key)
    return out


def _converted(kind: type, value: Any, key: str) -> Any:
    try:
        converted = kind(value)
    except OverflowError:  # a whole number too large for a float
        converted = math.inf
    if isinstance(converted, float) and not math.isfinite(converted):
        raise ManifestError(f"The adapter's recipe field {key} is not a finite number.")
    return converted


def parse_manifest(data: object) -> AdapterManifest:
    if not isinstance(data, dict):
        raise ManifestError("The adapter manifest must be a JSON object.")
    if data.get("format") != FORMAT:
        raise ManifestError(f"Unsupported adapter manifest format {shown(data.get('format'))}.")
    return AdapterManifest(
        base=_plain_file_name(data.get("base"), "base"),
        lora=_plain_file_name(data.get("lora"), "LoRA file"),
        method=str(data.get("method", "")),
        guidance_distilled=bool(data.get("guidance_distilled", False)),
        **_recipe(data),
    )


def read_manifest(folder: Path) -> AdapterManifest | None:
    """The folder's adapter manifest, None when it has none; ManifestError when it is bad."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = read_json(path, max_bytes=MAX_MANIFEST_BYTES)
    except OSError as exc:
        raise ManifestError(f"{path} could not be read: {exc.strerror or exc}.") from exc
    except JsonFileError as exc:
        raise ManifestError(f"{path} could not be used: {exc}.") from exc
    return parse_manifest(data)
