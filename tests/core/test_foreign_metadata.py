"""ComfyUI's and InvokeAI's PNG metadata, built as those tools write it, read field by field;
what Studio cannot map is listed; hostile graphs are refused in one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.core.comfyui_graph import MAX_LINK_DEPTH, MAX_NODES
from studio.core.comfyui_metadata import read_comfyui
from studio.core.foreign_metadata import MAX_GRAPH_CHARS, GraphError
from studio.core.invokeai_metadata import read_invokeai
from studio.core.metadata import MetadataError
from studio.core.params import ScheduleOptions, Sigmas
from studio.core.png_parameters import read_png_parameters
from tests.core.foreign_fixtures import (
    CKPT,
    NEGATIVE,
    POSITIVE,
    comfy_prompt,
    comfy_workflow,
    invokeai2_metadata,
    invokeai3_metadata,
    invokeai5_metadata,
    png_with,
)


def comfy(graph: dict) -> object:
    return read_comfyui(json.dumps(graph), None)


def test_comfyui_prompt_graph_field_by_field(tmp_path: Path) -> None:
    path = png_with(
        tmp_path / "c.png", {"prompt": comfy_prompt(seed=42), "workflow": comfy_workflow()}
    )
    parsed = read_png_parameters(path)
    assert parsed is not None and parsed.source == "ComfyUI"
    p = parsed.params
    assert (p.prompt, p.negative_prompt) == (POSITIVE, NEGATIVE)
    assert (p.seed, p.num_inference_steps, p.guidance_scale) == (42, 20, 8.0)
    assert (p.sampler, p.schedule) == ("Euler", ScheduleOptions())
    assert (p.width, p.height, p.batch_size) == (512, 768, 1)
    assert parsed.model == CKPT
    assert parsed.unmapped == () and parsed.warnings == ()


def test_comfyui_workflow_is_read_when_the_prompt_is_missing(tmp_path: Path) -> None:
    parsed = read_png_parameters(png_with(tmp_path / "w.png", {"workflow": comfy_workflow()}))
    assert parsed is not None
    p = parsed.params
    assert (p.prompt, p.negative_prompt, p.seed) == (POSITIVE, NEGATIVE, 156680208700286)
    assert (p.num_inference_steps, p.guidance_scale, p.sampler) == (20, 8.0, "DPM++ 2M Karras")
    assert (p.width, p.height, parsed.model) == (512, 768, CKPT)
    assert parsed.unmapped == ()
    assert parsed.warnings == ("The seed 156680208700286 is out of range: use 0 to 4294967295.",)


def test_workflow_links_as_objects_and_a_primitive_feeding_the_seed() -> None:
    workflow = comfy_workflow()
    workflow["links"] = [
        {"id": a, "origin_id": b, "origin_slot": c, "target_id": d, "target_slot": e, "type": f}
        for a, b, c, d, e, f in workflow["links"]
    ]
    workflow["links"].append(
        {
            "id": 10,
            "origin_id": 11,
            "origin_slot": 0,
            "target_id": 3,
            "target_slot": 4,
            "type": "INT",
        }
    )
    workflow["nodes"].append(
        {"id": 11, "type": "PrimitiveNode", "inputs": [], "widgets_values": [7, "fixed"]}
    )
    workflow["nodes"][0]["inputs"].append(
        {"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": 10}
    )
    parsed = read_comfyui(None, json.dumps(workflow))
    assert parsed.params.seed == 7 and parsed.params.prompt == POSITIVE


@pytest.mark.parametrize(
    ("sampler", "scheduler", "ours", "sigmas"),
    [
        ("euler", "normal", "Euler", Sigmas.default),
        ("euler", "karras", "Euler", Sigmas.karras),
        ("dpmpp_2m", "karras", "DPM++ 2M Karras", Sigmas.default),
        ("dpmpp_2m_sde", "karras", "DPM++ 2M SDE Karras", Sigmas.default),
        ("dpmpp_2m_sde_gpu", "exponential", "DPM++ 2M SDE", Sigmas.exponential),
        ("euler_ancestral", "normal", "Euler a", Sigmas.default),
        ("heun", "beta", "Heun", Sigmas.beta),
        ("ddim", "normal", "DDIM", Sigmas.default),
        ("uni_pc_bh2", "normal", "UniPC", Sigmas.default),
        ("lcm", "normal", "LCM", Sigmas.default),
        ("lms", "karras", "LMS Karras", Sigmas.default),
    ],
)
def test_comfyui_sampler_and_scheduler_names(sampler, scheduler, ours, sigmas) -> None:
    parsed = comfy(comfy_prompt(sampler=sampler, scheduler=scheduler, seed=1))
    assert (parsed.params.sampler, parsed.params.schedule.sigmas) == (ours, sigmas)
    assert parsed.unmapped == ()


@pytest.mark.parametrize(
    ("sampler", "scheduler", "listed"),
    [
        ("dpmpp_3m_sde", "karras", "sampler 'dpmpp_3m_sde' has no Studio counterpart"),
        ("res_multistep", "normal", "sampler 'res_multistep' has no Studio counterpart"),
        ("lcm", "sgm_uniform", "scheduler 'sgm_uniform' has no Studio counterpart"),
        ("ddim", "ddim_uniform", "scheduler 'ddim_uniform' has no Studio counterpart"),
        ("uni_pc", "normal", "uni_pc is UniPC's bh1 variant"),
        (7, "normal", "sampler 7 has no Studio counterpart"),
    ],
)
def test_comfyui_names_studio_lacks_are_listed_not_guessed(sampler, scheduler, listed) -> None:
    parsed = comfy(comfy_prompt(sampler=sampler, scheduler=scheduler, seed=1))
    assert any(listed in line for line in parsed.unmapped), parsed.unmapped
    if "sampler '" in listed or "sampler 7" in listed:
        assert parsed.params.sampler == "DPM++ 2M"  # Studio's default, not a look-alike


def test_loras_hires_pass_and_other_nodes_are_listed() -> None:
    graph = comfy_prompt(seed=1)
    graph["10"] = {
        "class_type": "LoraLoader",
        "inputs": {
            "lora_name": "add_detail.safetensors",
            "strength_model": 0.8,
            "strength_clip": 1.0,
            "model": ["4", 0],
            "clip": ["4", 1],
        },
    }
    graph["3"]["inputs"]["model"] = ["10", 0]
    graph["11"] = {
        "class_type": "LatentUpscale",
        "inputs": {
            "samples": ["3", 0],
            "upscale_method": "nearest-exact",
            "width": 1024,
            "height": 1536,
            "crop": "disabled",
        },
    }
    graph["12"] = {
        "class_type": "KSampler",
        "inputs": {**graph["3"]["inputs"], "latent_image": ["11", 0], "denoise": 0.5, "seed": 2},
    }
    graph["8"]["inputs"]["samples"] = ["12", 0]
    parsed = comfy(graph)
    assert parsed.params.seed == 1 and (parsed.params.width, parsed.params.height) == (512, 768)
    assert parsed.model == CKPT
    text = " ".join(parsed.unmapped)
    assert "LoRA 'add_detail.safetensors' (model 0.8, CLIP 1.0) is not applied" in text
    assert "node '12' ('KSampler') is another sampler pass" in text


def test_sampler_custom_advanced_of_a_flux_style_graph() -> None:
    graph = {
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["11", 0]}},
        "12": {
            "class_type": "UNETLoader",
            "inputs": {"unet_name": "flux1-dev.safetensors", "weight_dtype": "default"},
        },
        "11": {
            "class_type": "DualCLIPLoader",
            "inputs": {
                "clip_name1": "t5xxl.safetensors",
                "clip_name2": "clip_l.safetensors",
                "type": "flux",
            },
        },
        "22": {
            "class_type": "BasicGuider",
            "inputs": {"model": ["12", 0], "conditioning": ["6", 0]},
        },
        "16": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "17": {
            "class_type": "BasicScheduler",
            "inputs": {"scheduler": "simple", "steps": 4, "denoise": 1, "model": ["12", 0]},
        },
        "25": {"class_type": "RandomNoise", "inputs": {"noise_seed": 99}},
        "27": {
            "class_type": "EmptySD3LatentImage",
            "inputs": {"width": 1024, "height": 1024, "batch_size": 1},
        },
        "13": {
            "class_type": "SamplerCustomAdvanced",
            "inputs": {
                "noise": ["25", 0],
                "guider": ["22", 0],
                "sampler": ["16", 0],
                "sigmas": ["17", 0],
                "latent_image": ["27", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["13", 0], "vae": ["10", 0]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "flux"}},
    }
    parsed = comfy(graph)
    p = parsed.params
    assert (p.prompt, p.seed, p.num_inference_steps, p.sampler) == ("a cat", 99, 4, "Euler")
    assert (p.width, p.height, parsed.model) == (1024, 1024, "flux1-dev.safetensors")
    text = " ".join(parsed.unmapped)
    assert "CFG scale is not set" in text and "negative prompt is not connected" in text
    assert "scheduler 'simple' has no Studio counterpart" in text


def test_text_from_an_unknown_node_and_an_image_to_image_latent_are_listed() -> None:
    graph = comfy_prompt(seed=1)
    graph["20"] = {"class_type": "StringConcatenate", "inputs": {"string_a": "a", "string_b": "b"}}
    graph["6"]["inputs"]["text"] = ["20", 0]
    graph["21"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["22", 0], "vae": ["4", 2]}}
    graph["22"] = {"class_type": "LoadImage", "inputs": {"image": "in.png"}}
    graph["3"]["inputs"]["latent_image"] = ["21", 0]
    parsed = comfy(graph)
    assert parsed.params.prompt == "" and parsed.params.width == 512  # Studio's defaults
    text = " ".join(parsed.unmapped)
    assert "positive prompt comes from ComfyUI's node '20' ('StringConcatenate')" in text
    assert "starting latent comes from ComfyUI's node '21' ('VAEEncode')" in text


def test_wrong_value_types_are_listed() -> None:
    graph = comfy_prompt(seed=1)
    graph["3"]["inputs"].update(steps="twenty", cfg=float("nan"), seed=-5)
    graph["5"]["inputs"]["width"] = True
    parsed = comfy(graph)
    text = " ".join(parsed.unmapped)
    for field in ("steps 'twenty'", "CFG scale nan", "seed -5", "width True"):
        assert field in text
    assert parsed.params.num_inference_steps == 20 and parsed.params.width == 512


def cycle() -> str:
    graph = comfy_prompt(seed=1)
    graph["6"]["inputs"]["clip"] = ["3", 0]
    return json.dumps(graph)


def long_chain() -> str:
    graph = comfy_prompt(seed=1)
    for index in range(MAX_LINK_DEPTH + 5):
        graph[f"r{index}"] = {"class_type": "Reroute", "inputs": {"input": [f"r{index + 1}", 0]}}
    graph[f"r{MAX_LINK_DEPTH + 5}"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "x"}}
    graph["3"]["inputs"]["positive"] = ["r0", 0]
    return json.dumps(graph)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (cycle(), "has a cycle through node"),
        (long_chain(), f"chains more than {MAX_LINK_DEPTH} nodes"),
        ("x" * (MAX_GRAPH_CHARS + 1), "more than the 2,097,152 allowed"),
        ("[" * 100 + "]" * 100, "nested more than 64 levels deep"),
        ("[" * 50000 + "]" * 50000, "nested too deeply"),
        ('{"1": ' + "9" * 5000 + "}", "number too long"),
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must be an object of nodes, not a list"),
        ('{"3": {"inputs": {}}}', "node '3' has no class_type"),
        ('{"3": {"class_type": "KSampler", "inputs": [1]}}', "has inputs of a list"),
        (
            json.dumps({str(i): {"class_type": "X", "inputs": {}} for i in range(MAX_NODES + 1)}),
            "nodes, more than 5,000",
        ),
    ],
)
def test_hostile_prompt_graphs_are_refused_in_one_sentence(text: str, words: str) -> None:
    with pytest.raises(GraphError) as caught:
        read_comfyui(text, None)
    message = str(caught.value)
    assert words in message and message.count(". ") == 0 and message.endswith(".")
    assert isinstance(caught.value, MetadataError) and len(message) < 300


@pytest.mark.parametrize(
    ("workflow", "words"),
    [
        ({"nodes": "x"}, "with a list of nodes"),
        ({"nodes": [{"id": 1}]}, "node of the wrong shape"),
        ({"nodes": [], "links": [[1, 2]]}, "link of the wrong shape"),
        ({"nodes": [{"id": 1, "type": "A"}, {"id": 1, "type": "B"}]}, "two nodes numbered"),
        (
            {
                "nodes": [
                    {"id": 1, "type": "A", "inputs": [{"name": "x", "link": 1}]},
                    {"id": 2, "type": "B", "inputs": [{"name": "y", "link": 2}]},
                ],
                "links": [[1, 2, 0, 1, 0, "*"], [2, 1, 0, 2, 0, "*"]],
            },
            "has a cycle",
        ),
    ],
)
def test_hostile_workflows_are_refused(workflow: dict, words: str) -> None:
    with pytest.raises(GraphError, match=words):
        read_comfyui(None, json.dumps(workflow))


def test_invokeai5_field_by_field(tmp_path: Path) -> None:
    path = png_with(
        tmp_path / "i.png",
        {
            "invokeai_metadata": invokeai5_metadata(),
            "invokeai_graph": {"id": "g", "nodes": {}, "edges": []},
        },
    )
    parsed = read_png_parameters(path)
    assert parsed is not None and parsed.source == "InvokeAI"
    p = parsed.params
    assert (p.prompt, p.negative_prompt) == ("a robot reading a book", "blurry, low quality")
    assert (p.seed, p.num_inference_steps, p.guidance_scale) == (591741300, 30, 5.0)
    assert (p.sampler, p.width, p.height) == ("DPM++ 2M Karras", 1184, 888)
    assert parsed.model == "juggernautXL_v9"
    assert "InvokeAI's loras (1) are not applied." in parsed.unmapped
    assert parsed.warnings == ()


def test_invokeai3_and_2(tmp_path: Path) -> None:
    three = read_png_parameters(
        png_with(tmp_path / "3.png", {"invokeai_metadata": invokeai3_metadata()})
    )
    assert three is not None
    assert (three.params.prompt, three.params.sampler, three.params.num_inference_steps) == (
        "landscape",
        "Euler a",
        50,
    )
    assert (three.params.width, three.params.height, three.model) == (768, 432, "amixx_3Prunedfp16")
    assert "InvokeAI's VAE 'sd-vae-ft-mse' is not applied." in three.unmapped
    two = read_png_parameters(png_with(tmp_path / "2.png", {"sd-metadata": invokeai2_metadata()}))
    assert two is not None
    p = two.params
    assert (p.prompt, p.negative_prompt, p.sampler) == (
        "a fox in the snow",
        "blurry, cropped",
        "Euler a",
    )
    assert (p.seed, p.num_inference_steps, p.guidance_scale, p.width, p.height) == (
        3357757885,
        30,
        7.5,
        576,
        512,
    )
    assert two.model == "stable-diffusion-1.5"


@pytest.mark.parametrize(
    ("scheduler", "ours", "sigmas"),
    [
        ("euler", "Euler", Sigmas.default),
        ("euler_k", "Euler", Sigmas.karras),
        ("dpmpp_2m_k", "DPM++ 2M Karras", Sigmas.default),
        ("dpmpp_2m_sde_k", "DPM++ 2M SDE Karras", Sigmas.default),
        ("unipc", "UniPC", Sigmas.default),
        ("lcm", "LCM", Sigmas.default),
        ("kdpm_2_a", "DPM2 a", Sigmas.default),
        ("lms_k", "LMS Karras", Sigmas.default),
    ],
)
def test_invokeai_scheduler_names(scheduler, ours, sigmas) -> None:
    parsed = read_invokeai(json.dumps({"scheduler": scheduler}))
    assert (parsed.params.sampler, parsed.params.schedule.sigmas) == (ours, sigmas)


def test_invokeai_unknown_scheduler_and_keys_are_listed() -> None:
    data = {**invokeai5_metadata(), "scheduler": "er_sde", "guidance": 3.5, "clip_skip": 2}
    parsed = read_invokeai(json.dumps(data))
    text = " ".join(parsed.unmapped)
    assert "scheduler 'er_sde' has no Studio counterpart" in text
    assert "clip_skip 2 is not applied" in text and "settings 'guidance' are not read" in text
    assert parsed.params.sampler == "DPM++ 2M"


@pytest.mark.parametrize("text", ["[]", "{", '"x"', json.dumps({"a": [[[]]] * 2})])
def test_invokeai_odd_metadata(text: str) -> None:
    try:
        parsed = read_invokeai(text)
    except GraphError as exc:
        assert str(exc).startswith("The InvokeAI metadata")
    else:
        assert parsed.unmapped


def test_a_parameters_chunk_wins_and_dream_only_is_refused(tmp_path: Path) -> None:
    both = png_with(
        tmp_path / "b.png",
        {"parameters": "fox\nSteps: 3, Sampler: Euler, Seed: 1", "prompt": comfy_prompt()},
    )
    parsed = read_png_parameters(both)
    assert parsed is not None and parsed.source == "" and parsed.params.prompt == "fox"
    dream = png_with(tmp_path / "d.png", {"Dream": '"a fox" -s 50 -S 1'})
    with pytest.raises(MetadataError, match=r"^d.png: .*Dream"):
        read_png_parameters(dream)
    hostile = png_with(tmp_path / "h.png", {"prompt": cycle()})
    with pytest.raises(MetadataError, match=r"^h.png: The ComfyUI prompt has a cycle"):
        read_png_parameters(hostile)
