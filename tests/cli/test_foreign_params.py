"""`studio params` prints a ComfyUI and an InvokeAI PNG's parameters and what it could not map."""

from __future__ import annotations

import json
from pathlib import Path

from studio.cli import main
from tests.core.foreign_fixtures import CKPT, POSITIVE, comfy_prompt, invokeai5_metadata, png_with


def test_studio_params_prints_comfyui_and_invokeai_pngs(tmp_path: Path, capsys) -> None:
    graph = comfy_prompt(sampler="dpmpp_3m_sde", seed=5)
    comfy_png = png_with(tmp_path / "comfy.png", {"prompt": graph})
    assert main(["params", str(comfy_png)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["source"], data["prompt"], data["seed"], data["model"]) == (
        "ComfyUI",
        POSITIVE,
        5,
        CKPT,
    )
    assert (data["width"], data["height"], data["guidance_scale"]) == (512, 768, 8.0)
    assert data["unmapped"] == ["ComfyUI's sampler 'dpmpp_3m_sde' has no Studio counterpart."]
    invoke_png = png_with(tmp_path / "invoke.png", {"invokeai_metadata": invokeai5_metadata()})
    assert main(["params", str(invoke_png)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["source"], data["sampler"], data["seed"]) == (
        "InvokeAI",
        "DPM++ 2M Karras",
        591741300,
    )
    assert "InvokeAI's loras (1) are not applied." in data["unmapped"]
    graph["6"]["inputs"]["clip"] = ["3", 0]
    hostile = png_with(tmp_path / "bad.png", {"prompt": graph})
    assert main(["params", str(hostile)]) == 1
    assert "has a cycle" in capsys.readouterr().err
