"""Adapter folders: a student stored as a LoRA on a base model, described by a small JSON file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST = "studio_adapter.json"
FORMAT = 1


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
            out[key] = kind(value)
    return out


def parse_manifest(data: object) -> AdapterManifest:
    if not isinstance(data, dict):
        raise ManifestError("The adapter manifest must be a JSON object.")
    if data.get("format") != FORMAT:
        raise ManifestError(f"Unsupported adapter manifest format {data.get('format')!r}.")
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
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ManifestError(f"{path} is not valid JSON: {exc}.") from exc
    return parse_manifest(data)
