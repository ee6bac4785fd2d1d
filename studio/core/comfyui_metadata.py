"""ComfyUI's PNG metadata mapped onto Studio's parameters, and what cannot be, listed.

Which sampler: the sampler nodes (KSampler, KSamplerAdvanced, SamplerCustom,
SamplerCustomAdvanced) that feed the first SaveImage node (then PreviewImage; by node id), nearest
first; of those, the first that starts from an empty latent (the text-to-image pass, not a
hires-fix or refiner pass over it); when no output node reaches one, the sampler with the lowest
id. Switched-off (muted, bypassed) samplers are skipped. Every other sampler is listed.

From the chosen sampler, links are followed back: positive and negative to CLIPTextEncode's text
(CLIPTextEncodeSDXL's text_g), through ControlNet applications (listed); model to the
checkpoint's (or UNETLoader's) file name, through LoRA loaders and model patches (listed);
latent_image to EmptyLatentImage's width, height and batch size; a setting fed by a link to a
primitive node reads that node's value. Anything else that feeds a setting is listed.
"""

from __future__ import annotations

from typing import Any

from studio.core.comfyui_graph import ComfyGraph, ComfyNode, Link, prompt_graph, workflow_graph
from studio.core.foreign_metadata import Collector, finite_number, plain_text
from studio.core.metadata import ParsedParameters
from studio.core.params import Sigmas
from studio.core.wording import shown

SOURCE = "ComfyUI"
SAMPLER_TYPES = frozenset(
    {"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"}
)
OUTPUT_TYPES = ("SaveImage", "PreviewImage")
EMPTY_LATENTS = frozenset({"EmptyLatentImage", "EmptySD3LatentImage"})
CHECKPOINTS = {
    "CheckpointLoaderSimple": "ckpt_name",
    "CheckpointLoader": "ckpt_name",
    "UNETLoader": "unet_name",
}
PRIMITIVES = frozenset(
    {
        "PrimitiveNode",
        "PrimitiveInt",
        "PrimitiveFloat",
        "PrimitiveString",
        "PrimitiveStringMultiline",
        "PrimitiveBoolean",
    }
)
_MODEL_PATCHES = (
    "ModelSamplingDiscrete",
    "ModelSamplingSD3",
    "ModelSamplingFlux",
    "FreeU",
    "FreeU_V2",
    "PerturbedAttentionGuidance",
    "RescaleCFG",
)
THROUGH: dict[str, dict[int, str]] = {
    "Reroute": {0: "input"},
    "LoraLoader": {0: "model", 1: "clip"},
    "LoraLoaderModelOnly": {0: "model"},
    "CLIPSetLastLayer": {0: "clip"},
    "ControlNetApply": {0: "conditioning"},
    "ControlNetApplyAdvanced": {0: "positive", 1: "negative"},
    **{name: {0: "model"} for name in _MODEL_PATCHES},
}
# ComfyUI's sampler_name -> Studio's sampler (comfy/samplers.py KSAMPLER_NAMES + ddim, uni_pc).
SAMPLERS = {
    "euler": "Euler",
    "euler_ancestral": "Euler a",
    "heun": "Heun",
    "dpm_2": "DPM2",
    "dpm_2_ancestral": "DPM2 a",
    "lms": "LMS",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_2m_sde_gpu": "DPM++ 2M SDE",
    "dpmpp_sde": "DPM++ SDE",
    "dpmpp_sde_gpu": "DPM++ SDE",
    "ddpm": "DDPM",
    "ddim": "DDIM",
    "lcm": "LCM",
    "deis": "DEIS",
    "uni_pc": "UniPC",
    "uni_pc_bh2": "UniPC",
}
SAMPLER_NOTES = {"uni_pc": "ComfyUI's uni_pc is UniPC's bh1 variant; Studio's UniPC is bh2."}
# ComfyUI's scheduler -> Studio's sigmas; "normal" is the sampler's own schedule.
SCHEDULERS = {
    "normal": Sigmas.default,
    "karras": Sigmas.karras,
    "exponential": Sigmas.exponential,
    "beta": Sigmas.beta,
}


def read_comfyui(prompt: str | None, workflow: str | None) -> ParsedParameters:
    """The parameters of ComfyUI's "prompt" chunk, or of its "workflow" chunk when the prompt
    is missing; GraphError (a MetadataError) for a malformed or hostile graph."""
    graph = prompt_graph(prompt) if prompt is not None else workflow_graph(workflow)
    out = Collector(SOURCE)
    sampler = _choose_sampler(graph, out)
    if sampler is None:
        out.miss(f"The ComfyUI {graph.kind} has no sampler node that Studio reads.")
    else:
        _SamplerReader(graph, out).read(sampler)
    return out.result()


def _choose_sampler(graph: ComfyGraph, out: Collector) -> ComfyNode | None:
    samplers = [node for node in graph.ordered() if node.class_type in SAMPLER_TYPES]
    active = [node for node in samplers if not node.off]
    active_ids = {node.id for node in active}
    candidates: dict[str, ComfyNode] = {}
    for kind in OUTPUT_TYPES:
        for output in (n for n in graph.ordered() if n.class_type == kind and not n.off):
            candidates |= {n.id: n for n in graph.upstream(output) if n.id in active_ids}
        if candidates:
            break
    candidates = candidates or {node.id: node for node in active}
    ordered = list(candidates.values())
    starts_empty = [n for n in ordered if _latent_source(graph, n) in EMPTY_LATENTS]
    picked = starts_empty or ordered
    chosen = picked[0] if picked else None
    for other in samplers:
        if other is not chosen:
            state = "switched off" if other.off else "another sampler pass"
            out.miss(f"ComfyUI's {other.label()} is {state}; only one sampler is read.")
    return chosen


def _latent_source(graph: ComfyGraph, sampler: ComfyNode) -> str:
    met = list(graph.follow(sampler.inputs.get("latent_image"), THROUGH))
    return met[-1].class_type if met else ""


class _SamplerReader:
    """Reads one sampler node and what feeds it into a `Collector`."""

    def __init__(self, graph: ComfyGraph, out: Collector) -> None:
        self.graph, self.out = graph, out

    def read(self, node: ComfyNode) -> None:
        roles = self._roles(node)
        out = self.out
        out.integer("seed", "seed", self.value(roles.get("seed"), "seed"))
        out.integer("num_inference_steps", "steps", self.value(roles.get("steps"), "steps"))
        out.number("guidance_scale", "CFG scale", self.value(roles.get("cfg"), "CFG scale"))
        self._sampler_name(
            self.value(roles.get("sampler_name"), "sampler"),
            self.value(roles.get("scheduler"), "scheduler"),
        )
        out.text("prompt", "positive prompt", self.prompt(roles.get("positive"), "positive prompt"))
        out.text(
            "negative_prompt",
            "negative prompt",
            self.prompt(roles.get("negative"), "negative prompt"),
        )
        self._model(roles.get("model"))
        self._latent(roles.get("latent_image"))

    def _roles(self, node: ComfyNode) -> dict[str, Any]:
        inputs = node.inputs
        roles = {key: inputs.get(key) for key in ("cfg", "positive", "negative", "model")}
        roles["latent_image"] = inputs.get("latent_image")
        if node.class_type == "KSampler":
            roles.update({k: inputs.get(k) for k in ("seed", "steps", "sampler_name", "scheduler")})
            self._denoise(inputs.get("denoise"), node)
        elif node.class_type == "KSamplerAdvanced":
            roles.update({k: inputs.get(k) for k in ("steps", "sampler_name", "scheduler")})
            roles["seed"] = inputs.get("noise_seed")
            self._advanced_steps(node)
        else:
            self._custom_roles(node, roles)
        return roles

    def _custom_roles(self, node: ComfyNode, roles: dict[str, Any]) -> None:
        inputs = node.inputs
        roles["seed"] = inputs.get("noise_seed")
        if node.class_type == "SamplerCustomAdvanced":
            noise = self.source(inputs.get("noise"), "noise", {"RandomNoise"})
            roles["seed"] = noise.inputs.get("noise_seed") if noise else None
            guider = self.source(inputs.get("guider"), "guider", {"CFGGuider", "BasicGuider"})
            if guider is not None:
                g = guider.inputs
                roles.update(cfg=g.get("cfg"), model=g.get("model"), negative=g.get("negative"))
                roles["positive"] = g.get("positive", g.get("conditioning"))
        select = self.source(inputs.get("sampler"), "sampler", {"KSamplerSelect"})
        roles["sampler_name"] = select.inputs.get("sampler_name") if select else None
        sigmas = self.source(inputs.get("sigmas"), "sigmas", {"BasicScheduler"})
        if sigmas is not None:
            roles["steps"], roles["scheduler"] = (
                sigmas.inputs.get(k) for k in ("steps", "scheduler")
            )
            self._denoise(sigmas.inputs.get("denoise"), sigmas)

    # --- following links ----------------------------------------------------------------------

    def source(self, value: object, role: str, wanted: set[str]) -> ComfyNode | None:
        """The node of type in `wanted` that feeds `role`, or None (listed)."""
        met = self._walk(value)
        if met and met[-1].class_type in wanted:
            return met[-1]
        self._listed_source(met, role)
        return None

    def value(self, value: object, role: str) -> object:
        """A setting's value: as written, or the value of the primitive node linked to it."""
        if not isinstance(value, Link):
            if value is None:
                self.out.miss(f"The {role} is not set in the ComfyUI {self.graph.kind}.")
            return value
        node = self.source(value, role, set(PRIMITIVES))
        if node is None:
            return None
        found = node.inputs.get("value")
        if isinstance(found, Link):
            self.out.miss(f"The {role} comes from a chain of primitives ({node.label()}).")
            return None
        return found

    def prompt(self, value: object, role: str) -> object:
        encoder = self.source(value, role, {"CLIPTextEncode", "CLIPTextEncodeSDXL"})
        if encoder is None:
            return None
        if encoder.class_type == "CLIPTextEncodeSDXL":
            text_g, text_l = encoder.inputs.get("text_g"), encoder.inputs.get("text_l")
            if text_l != text_g:
                self.out.miss(
                    f"The {role}'s second SDXL text (text_l) {shown(text_l)} is not read."
                )
            return self.value(text_g, role)
        return self.value(encoder.inputs.get("text"), role)

    def _walk(self, value: object) -> list[ComfyNode]:
        met = list(self.graph.follow(value, THROUGH))
        for node in met[:-1]:
            self._note_pass_through(node)
        return met

    def _listed_source(self, met: list[ComfyNode], role: str) -> None:
        if not met:
            self.out.miss(f"The {role} is not connected in the ComfyUI {self.graph.kind}.")
        else:
            self.out.miss(f"The {role} comes from ComfyUI's {met[-1].label()}, which is not read.")

    def _note_pass_through(self, node: ComfyNode) -> None:
        inputs, kind = node.inputs, node.class_type
        if kind.startswith("LoraLoader"):
            strengths = f"model {shown(inputs.get('strength_model'))}"
            if kind == "LoraLoader":
                strengths += f", CLIP {shown(inputs.get('strength_clip'))}"
            self.out.miss(
                f"The LoRA {shown(inputs.get('lora_name'))} ({strengths}) is not applied."
            )
        elif kind == "CLIPSetLastLayer":
            layer = inputs.get("stop_at_clip_layer")
            self.out.miss(f"CLIP skip (stop at layer {shown(layer)}) is not applied.")
        elif kind != "Reroute":
            self.out.miss(
                f"ComfyUI's {node.label()} changes the model or prompt and is not applied."
            )

    # --- the settings -------------------------------------------------------------------------

    def _sampler_name(self, name: object, scheduler: object) -> None:
        if name is None:
            return
        base = SAMPLERS.get(name) if isinstance(name, str) else None
        if base is None:
            self.out.miss(f"ComfyUI's sampler {shown(name)} has no Studio counterpart.")
            return
        if isinstance(name, str) and name in SAMPLER_NOTES:
            self.out.miss(SAMPLER_NOTES[name])
        sigmas = SCHEDULERS.get(scheduler) if isinstance(scheduler, str) else None
        if sigmas is None and scheduler is not None:
            self.out.miss(
                f"ComfyUI's scheduler {shown(scheduler)} has no Studio counterpart, so the"
                " sampler's own schedule is used."
            )
        self.out.sampler(base, sigmas or Sigmas.default)

    def _model(self, value: object) -> None:
        loader = self.source(value, "model", set(CHECKPOINTS))
        if loader is None:
            return
        name = self.value(loader.inputs.get(CHECKPOINTS[loader.class_type]), "checkpoint name")
        text = plain_text(name)
        if text is None:
            if name is not None:
                self.out.miss(f"The checkpoint name {shown(name)} is not plain text.")
            return
        self.out.model = text

    def _latent(self, value: object) -> None:
        met = self._walk(value)
        if not met or met[-1].class_type not in EMPTY_LATENTS:
            what = f"ComfyUI's {met[-1].label()}" if met else "nothing"
            self.out.miss(
                f"The starting latent comes from {what}, not an empty latent, so the size is not"
                " read (an image-to-image or refining pass)."
            )
            return
        inputs = met[-1].inputs
        self.out.integer("width", "width", self.value(inputs.get("width"), "width"))
        self.out.integer("height", "height", self.value(inputs.get("height"), "height"))
        self.out.integer(
            "batch_size", "batch size", self.value(inputs.get("batch_size"), "batch size")
        )

    def _denoise(self, value: object, node: ComfyNode) -> None:
        if isinstance(value, Link) or (value is not None and finite_number(value) != 1.0):
            self.out.miss(f"The denoise {shown(value)} of ComfyUI's {node.label()} is not applied.")

    def _advanced_steps(self, node: ComfyNode) -> None:
        inputs = node.inputs
        if inputs.get("add_noise", "enable") != "enable":
            self.out.miss(f"ComfyUI's {node.label()} adds no noise; that is not applied.")
        start, end, steps = (inputs.get(k) for k in ("start_at_step", "end_at_step", "steps"))
        whole = start in (0, None) and (
            end is None or (isinstance(end, int) and isinstance(steps, int) and end >= steps)
        )
        if not whole:
            self.out.miss(
                f"ComfyUI's {node.label()} runs steps {shown(start)} to {shown(end)} only;"
                " Studio runs them all."
            )
