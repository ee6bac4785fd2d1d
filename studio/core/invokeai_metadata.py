"""InvokeAI's PNG metadata mapped onto Studio's parameters, and what cannot be, listed.

InvokeAI 3 to 5 write a tEXt chunk "invokeai_metadata" (with "invokeai_graph" and
"invokeai_workflow" beside it, not read here): the JSON of its core metadata, e.g.
``{"positive_prompt": ..., "negative_prompt": ..., "seed": 5, "steps": 30, "cfg_scale": 7.5,
"scheduler": "dpmpp_2m_k", "width": 1024, "height": 1024, "model": {"name": ..., "base":
"sdxl", ...}, "loras": [...], ...}`` (InvokeAI 3 spells the model ``{"model_name": ...,
"base_model": ...}``). InvokeAI 2 wrote "sd-metadata": ``{"model_weights": ..., "image":
{"prompt": [{"prompt": "text [negative]", "weight": 1.0}], "steps", "cfg_scale", "seed",
"width", "height", "sampler": "k_euler_a"}}``, the negative prompt in square brackets.
InvokeAI 1's "Dream" command line is not read.
"""

from __future__ import annotations

import re
from typing import Any

from studio.core.foreign_metadata import Collector, GraphError, load_json, plain_text
from studio.core.metadata import ParsedParameters
from studio.core.params import Sigmas
from studio.core.wording import shown

SOURCE = "InvokeAI"
# invokeai/backend/stable_diffusion/schedulers/schedulers.py SCHEDULER_MAP; "_k" adds Karras.
SCHEDULERS = {
    "ddim": "DDIM",
    "ddpm": "DDPM",
    "deis": "DEIS",
    "lms": "LMS",
    "pndm": "PNDM",
    "heun": "Heun",
    "euler": "Euler",
    "euler_a": "Euler a",
    "kdpm_2": "DPM2",
    "kdpm_2_a": "DPM2 a",
    "dpmpp_2s": "DPM++ 2S",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_3m": "DPM++ 3M",
    "dpmpp_sde": "DPM++ SDE",
    "unipc": "UniPC",
    "lcm": "LCM",
    "tcd": "TCD",
}
# InvokeAI 2's samplers (its --sampler / -A names).
LEGACY_SAMPLERS = {
    "ddim": "DDIM",
    "plms": "PNDM",
    "k_lms": "LMS",
    "k_dpm_2": "DPM2",
    "k_dpm_2_a": "DPM2 a",
    "k_euler": "Euler",
    "k_euler_a": "Euler a",
    "k_heun": "Heun",
}
_READ = {
    "positive_prompt",
    "negative_prompt",
    "seed",
    "steps",
    "cfg_scale",
    "scheduler",
    "width",
    "height",
    "model",
}
_HARMLESS = {"app_version", "generation_mode", "rand_device", "regions"}
_EMPTY_LISTS = ("loras", "controlnets", "ipAdapters", "t2iAdapters", "ref_images")
_OFF_VALUES: dict[str, Any] = {
    "cfg_rescale_multiplier": 0,
    "clip_skip": 0,
    "seamless_x": False,
    "seamless_y": False,
    "hrf_enabled": False,
}
_NEGATIVE = re.compile(r"\[([^\[\]]*)\]")


def read_invokeai(text: str) -> ParsedParameters:
    """The parameters of an "invokeai_metadata" chunk; GraphError when it is not an object."""
    data = load_json(text, "InvokeAI metadata")
    if not isinstance(data, dict):
        raise GraphError("The InvokeAI metadata must be an object of settings.")
    out = Collector(SOURCE)
    out.text("prompt", "positive prompt", data.get("positive_prompt"))
    out.text("negative_prompt", "negative prompt", data.get("negative_prompt"))
    out.integer("seed", "seed", data.get("seed"))
    out.integer("num_inference_steps", "steps", data.get("steps"))
    out.number("guidance_scale", "CFG scale", data.get("cfg_scale"))
    out.integer("width", "width", data.get("width"))
    out.integer("height", "height", data.get("height"))
    _scheduler(out, data.get("scheduler"))
    _model(out, data.get("model"))
    _unread(out, data)
    return out.result()


def _scheduler(out: Collector, name: object) -> None:
    if name is None:
        return
    key = name if isinstance(name, str) else ""
    karras = key.endswith("_k")
    base = SCHEDULERS.get(key.removesuffix("_k") if karras else key)
    if base is None:
        out.miss(f"InvokeAI's scheduler {shown(name)} has no Studio counterpart.")
        return
    out.sampler(base, Sigmas.karras if karras else Sigmas.default)


def _model(out: Collector, model: object) -> None:
    if model is None:
        return
    fields = model if isinstance(model, dict) else {}
    name = plain_text(fields.get("name", fields.get("model_name")))
    if name is None:
        out.miss(f"The model {shown(model)} has no plain name.")
        return
    out.model = name
    base = fields.get("base", fields.get("base_model"))
    if base is not None:
        out.miss(f"The model's base {shown(base)} is not checked against Studio's model.")


def _unread(out: Collector, data: dict[str, Any]) -> None:
    for key in _EMPTY_LISTS:
        items = data.get(key)
        if items:
            count = len(items) if isinstance(items, list) else 1
            out.miss(f"InvokeAI's {key} ({count}) are not applied.")
    for key, off in _OFF_VALUES.items():
        if key in data and data[key] != off:
            out.miss(f"InvokeAI's {key} {shown(data[key])} is not applied.")
    vae = data.get("vae")
    if vae:
        name = vae.get("name", vae.get("model_name")) if isinstance(vae, dict) else vae
        out.miss(f"InvokeAI's VAE {shown(name)} is not applied.")
    for key in ("positive_style_prompt", "negative_style_prompt"):
        prompt = "positive_prompt" if key.startswith("positive") else "negative_prompt"
        if data.get(key) not in (None, "", data.get(prompt)):
            out.miss(f"InvokeAI's {key} {shown(data[key])} is not read.")
    known = _READ | _HARMLESS | set(_EMPTY_LISTS) | set(_OFF_VALUES)
    known |= {"vae", "positive_style_prompt", "negative_style_prompt"}
    others = sorted(str(key) for key in data if key not in known)
    if others:
        listed = ", ".join(shown(key, 30) for key in others[:12])
        more = f" and {len(others) - 12} more" if len(others) > 12 else ""
        out.miss(f"InvokeAI's settings {listed}{more} are not read.")


def read_legacy_invokeai(text: str) -> ParsedParameters:
    """The parameters of InvokeAI 2's "sd-metadata" chunk."""
    data = load_json(text, "InvokeAI sd-metadata")
    image = data.get("image") if isinstance(data, dict) else None
    if not isinstance(image, dict):
        raise GraphError("The InvokeAI sd-metadata has no image object.")
    out = Collector(SOURCE)
    _legacy_prompt(out, image.get("prompt"))
    out.integer("seed", "seed", image.get("seed"))
    out.integer("num_inference_steps", "steps", image.get("steps"))
    out.number("guidance_scale", "CFG scale", image.get("cfg_scale"))
    out.integer("width", "width", image.get("width"))
    out.integer("height", "height", image.get("height"))
    sampler = image.get("sampler")
    if sampler is not None:
        base = LEGACY_SAMPLERS.get(sampler) if isinstance(sampler, str) else None
        if base is None:
            out.miss(f"InvokeAI's sampler {shown(sampler)} has no Studio counterpart.")
        else:
            out.sampler(base, Sigmas.default)
    assert isinstance(data, dict)
    weights = plain_text(data.get("model_weights"))
    if weights:
        out.model = weights
    for key in ("variations", "postprocessing"):
        if image.get(key):
            out.miss(f"InvokeAI's {key} are not applied.")
    return out.result()


def _legacy_prompt(out: Collector, prompt: object) -> None:
    if isinstance(prompt, list):
        if len(prompt) > 1:
            out.miss(f"Only the first of InvokeAI's {len(prompt)} weighted prompts is read.")
        first = prompt[0] if prompt else None
        prompt = first.get("prompt") if isinstance(first, dict) else first
    text = plain_text(prompt)
    if text is None:
        if prompt is not None:
            out.miss(f"The prompt {shown(prompt)} is not plain text.")
        return
    negatives = _NEGATIVE.findall(text)
    out.fields["prompt"] = _NEGATIVE.sub("", text).strip()
    out.fields["negative_prompt"] = ", ".join(part.strip() for part in negatives if part.strip())
