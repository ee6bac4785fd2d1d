"""ComfyUI and InvokeAI metadata as those tools write it, built in code, and PNGs holding it.

The ComfyUI graphs follow its default text-to-image workflow (SaveImage writes
`json.dumps(prompt)` as "prompt" and `json.dumps(workflow)` as "workflow"); the InvokeAI ones
follow its core metadata (InvokeAI 3 and 5 spellings) and InvokeAI 2's "sd-metadata".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

POSITIVE = "beautiful scenery nature glass bottle landscape, purple galaxy bottle,"
NEGATIVE = "text, watermark"
CKPT = "v1-5-pruned-emaonly.safetensors"


def comfy_prompt(
    *, sampler: str = "euler", scheduler: str = "normal", seed: int = 156680208700286
) -> dict[str, Any]:
    """The API graph of ComfyUI's default workflow."""
    return {
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": seed,
                "steps": 20,
                "cfg": 8,
                "sampler_name": sampler,
                "scheduler": scheduler,
                "denoise": 1,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
            "_meta": {"title": "KSampler"},
        },
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": 512, "height": 768, "batch_size": 1},
        },
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": POSITIVE, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": NEGATIVE, "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {
            "class_type": "SaveImage",
            "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]},
        },
    }


def _node(node_id: int, kind: str, inputs: list, outputs: list, widgets: list) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": kind,
        "pos": [100 * node_id, 100],
        "size": [315, 262],
        "flags": {},
        "order": node_id,
        "mode": 0,
        "inputs": [{"name": name, "type": kind_, "link": link} for name, kind_, link in inputs],
        "outputs": [
            {"name": name, "type": kind_, "links": links, "slot_index": i}
            for i, (name, kind_, links) in enumerate(outputs)
        ],
        "properties": {"Node name for S&R": kind},
        "widgets_values": widgets,
    }


def comfy_workflow() -> dict[str, Any]:
    """The editor's graph of ComfyUI's default workflow (frontend format 0.4)."""
    nodes = [
        _node(
            3,
            "KSampler",
            [
                ("model", "MODEL", 1),
                ("positive", "CONDITIONING", 4),
                ("negative", "CONDITIONING", 6),
                ("latent_image", "LATENT", 2),
            ],
            [("LATENT", "LATENT", [7])],
            [156680208700286, "randomize", 20, 8, "dpmpp_2m", "karras", 1],
        ),
        _node(
            4,
            "CheckpointLoaderSimple",
            [],
            [("MODEL", "MODEL", [1]), ("CLIP", "CLIP", [3, 5]), ("VAE", "VAE", [8])],
            [CKPT],
        ),
        _node(5, "EmptyLatentImage", [], [("LATENT", "LATENT", [2])], [512, 768, 1]),
        _node(
            6,
            "CLIPTextEncode",
            [("clip", "CLIP", 3)],
            [("CONDITIONING", "CONDITIONING", [4])],
            [POSITIVE],
        ),
        _node(
            7,
            "CLIPTextEncode",
            [("clip", "CLIP", 5)],
            [("CONDITIONING", "CONDITIONING", [6])],
            [NEGATIVE],
        ),
        _node(
            8,
            "VAEDecode",
            [("samples", "LATENT", 7), ("vae", "VAE", 8)],
            [("IMAGE", "IMAGE", [9])],
            [],
        ),
        _node(9, "SaveImage", [("images", "IMAGE", 9)], [], ["ComfyUI"]),
    ]
    links = [
        [1, 4, 0, 3, 0, "MODEL"],
        [2, 5, 0, 3, 3, "LATENT"],
        [3, 4, 1, 6, 0, "CLIP"],
        [4, 6, 0, 3, 1, "CONDITIONING"],
        [5, 4, 1, 7, 0, "CLIP"],
        [6, 7, 0, 3, 2, "CONDITIONING"],
        [7, 3, 0, 8, 0, "LATENT"],
        [8, 4, 2, 8, 1, "VAE"],
        [9, 8, 0, 9, 0, "IMAGE"],
    ]
    return {
        "last_node_id": 9,
        "last_link_id": 9,
        "nodes": nodes,
        "links": links,
        "groups": [],
        "config": {},
        "extra": {},
        "version": 0.4,
    }


def invokeai5_metadata() -> dict[str, Any]:
    """InvokeAI 5's core metadata of an SDXL text-to-image run."""
    return {
        "generation_mode": "sdxl_txt2img",
        "positive_prompt": "a robot reading a book",
        "negative_prompt": "blurry, low quality",
        "width": 1184,
        "height": 888,
        "seed": 591741300,
        "rand_device": "cpu",
        "cfg_scale": 5.0,
        "cfg_rescale_multiplier": 0.0,
        "steps": 30,
        "scheduler": "dpmpp_2m_k",
        "model": {
            "key": "db73016a-176e-4d59-81d2-8e6278ed2399",
            "hash": "blake3:8967e7e6df2e97e08c61543779f7cc6b43b364287c375cd6dbff1627fd044312",
            "name": "juggernautXL_v9",
            "base": "sdxl",
            "type": "main",
        },
        "loras": [
            {
                "model": {
                    "key": "k",
                    "hash": "h",
                    "name": "detail-tweaker",
                    "base": "sdxl",
                    "type": "lora",
                },
                "weight": 0.75,
            }
        ],
        "positive_style_prompt": "a robot reading a book",
        "negative_style_prompt": "blurry, low quality",
        "app_version": "5.4.2",
    }


def invokeai3_metadata() -> dict[str, Any]:
    """InvokeAI 3's core metadata (model spelled model_name/base_model)."""
    return {
        "app_version": "3.3.0post3",
        "generation_mode": "txt2img",
        "positive_prompt": "landscape",
        "negative_prompt": "low quality",
        "width": 768,
        "height": 432,
        "seed": 356120443,
        "rand_device": "cpu",
        "cfg_scale": 7.5,
        "steps": 50,
        "scheduler": "euler_a",
        "clip_skip": 0,
        "model": {"model_name": "amixx_3Prunedfp16", "base_model": "sd-1", "model_type": "main"},
        "controlnets": [],
        "ipAdapters": [],
        "t2iAdapters": [],
        "loras": [],
        "vae": {"model_name": "sd-vae-ft-mse", "base_model": "sd-1"},
    }


def invokeai2_metadata() -> dict[str, Any]:
    """InvokeAI 2's "sd-metadata"."""
    return {
        "model": "stable diffusion",
        "model_weights": "stable-diffusion-1.5",
        "model_hash": "cc6cb27103417325ff94f52b7a5d2dde45a7515b25c255d8e396c90014281516",
        "app_id": "invoke-ai/InvokeAI",
        "app_version": "2.2.5",
        "image": {
            "prompt": [{"prompt": "a fox in the snow [blurry, cropped]", "weight": 1.0}],
            "steps": 30,
            "cfg_scale": 7.5,
            "threshold": 0,
            "perlin": 0,
            "height": 512,
            "width": 576,
            "seed": 3357757885,
            "seamless": False,
            "hires_fix": False,
            "type": "txt2img",
            "postprocessing": None,
            "sampler": "k_euler_a",
            "variations": [],
        },
    }


def png_with(path: Path, chunks: dict[str, Any]) -> Path:
    """A small PNG with `chunks` as tEXt chunks, objects as `json.dumps` writes them."""
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value if isinstance(value, str) else json.dumps(value))
    Image.new("RGB", (8, 8)).save(path, format="PNG", pnginfo=info, compress_level=4)
    return path
