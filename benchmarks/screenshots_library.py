"""A screenshot of the Models tab with a scanned models folder, for `docs/screenshots/`.

No real weights can be downloaded here, so the demo folder holds header-true stand-ins: each
`.safetensors` file has the header of the real model (tensor names in the original layout and
shapes from the shipped configs, built on the meta device and written by the tests' layout
converter) and is extended to its real size as a sparse file of zeros. The scanner reads only
headers, so it lists them exactly as it would list the real files. Beside them: the studio's own
embedded teacher and student, a pickle checkpoint, a truncated download and a junk file.
A second shot shows the question asked before that pickle checkpoint is used (the dialog is
its own top-level window, so the screen is grabbed around the window, dialog included).
Run: `python -m benchmarks.screenshots_library [--out docs/screenshots] [--display :98]`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import struct
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks.screenshots import SIZE, private_studio, screenshot_main, until

DTYPE_BYTES = {"F16": 2, "F32": 4}
PICKLE_NAME = "Stable-diffusion/anything-v3.ckpt"


def write_header_file(path: Path, shapes: dict[str, tuple[int, ...]], dtype: str = "F16") -> int:
    """A safetensors file with these tensors' header, grown to full size as a sparse file."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for key, shape in shapes.items():
        size = DTYPE_BYTES[dtype]
        for n in shape:
            size *= n
        header[key] = {
            "dtype": dtype,
            "shape": list(shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)) + text)
        out.truncate(8 + len(text) + offset)
    return 8 + len(text) + offset


def real_layout(config: str) -> dict[str, tuple[int, ...]]:
    """Tensor names (original layout) and shapes of the real model a shipped config describes."""
    from accelerate import init_empty_weights

    from studio.core.paths import single_file_configs_dir
    from studio.engine.single_file import read_config
    from tests.engine import ldm_layout

    folder = single_file_configs_dir() / config
    family = {"sd15": "sd1", "sd21": "sd2", "sdxl": "sdxl"}[config]
    settings = read_config(folder, _family(family), config)
    with init_empty_weights():
        parts = {key: _empty(folder, key, spec) for key, spec in settings.components if spec}
    pipe = SimpleNamespace(**parts)
    return {k: tuple(v.shape) for k, v in ldm_layout.pipeline_to_ldm(pipe, family).items()}


def _family(name: str) -> Any:
    from studio.core.checkpoint_family import CheckpointFamily

    return CheckpointFamily(name)


def _empty(folder: Path, key: str, spec: tuple[str, str]) -> Any:
    import diffusers
    import transformers

    library, class_name = spec
    if class_name == "CLIPTokenizer" or class_name.endswith("Scheduler"):
        return None
    if library == "diffusers":
        cls = getattr(diffusers, class_name)
        return cls.from_config(cls.load_config(folder / key))
    config = transformers.CLIPTextConfig.from_pretrained(folder / key)
    return getattr(transformers, class_name)(config)


def lora_layout(
    unet_shapes: dict[str, tuple[int, ...]], rank: int = 64
) -> dict[str, tuple[int, ...]]:
    """Kohya-style LoRA names and shapes for every attention projection of an SD UNet."""
    shapes: dict[str, tuple[int, ...]] = {}
    for key, shape in unet_shapes.items():
        if not key.endswith(("to_q.weight", "to_k.weight", "to_v.weight", "to_out.0.weight")):
            continue
        name = "lora_unet_" + key.removeprefix("model.diffusion_model.").removesuffix(".weight")
        name = name.replace(".", "_")
        shapes[f"{name}.lora_down.weight"] = (rank, shape[1])
        shapes[f"{name}.lora_up.weight"] = (shape[0], rank)
        shapes[f"{name}.alpha"] = ()
    return shapes


def build_demo_folder(root: Path) -> Path:
    """The demo models folder under `root`, laid out as in A1111 plus two diffusers folders."""
    import torch

    from studio.core.paths import models_dir

    sd15, sdxl, sd21 = real_layout("sd15"), real_layout("sdxl"), real_layout("sd21")
    checkpoints = root / "Stable-diffusion"
    write_header_file(checkpoints / "dreamshaper_8.safetensors", sd15)
    write_header_file(checkpoints / "sd_xl_base_1.0.safetensors", sdxl)
    write_header_file(checkpoints / "v2-1_768-ema-pruned.safetensors", sd21, dtype="F32")
    partial = checkpoints / "juggernautXL_v9.safetensors"
    full = write_header_file(partial, sdxl)
    os.truncate(partial, full // 3)
    torch.save({"state_dict": {"w": torch.zeros(1)}}, root / PICKLE_NAME)
    unet = {k: v for k, v in sd15.items() if k.startswith("model.diffusion_model.")}
    write_header_file(root / "Lora" / "my-style-lora.safetensors", lora_layout(unet))
    vae = {k.removeprefix("first_stage_model."): v for k, v in sdxl.items() if "first_stage" in k}
    write_header_file(root / "VAE" / "sdxl_vae.safetensors", vae, dtype="F32")
    (root / "README.txt").write_text("my models\n")
    for name in ("emoji-teacher", "emoji-student-4step"):
        if (models_dir() / name).is_dir():
            shutil.copytree(models_dir() / name, root / "studio" / name)
    return root


async def shoot(studio: Any, models: Path, out: Path) -> None:
    window = studio.window
    running = asyncio.ensure_future(studio.run())
    await until(window.isVisible)
    window.resize(*SIZE)
    await until(lambda: window.status_line.text().startswith("Ready"))
    window.set_models_folder(models)
    panel = window.library_panel
    names = [entry.name for entry in window.library.entries]
    panel.table.selectRow(names.index("Stable-diffusion/v2-1_768-ema-pruned.safetensors"))
    await asyncio.sleep(0.3)
    path = out / "model-library.png"
    window.grab().save(str(path))
    print(path)
    await shoot_pickle_question(window, models, out)
    window.close()
    await asyncio.wait_for(running, timeout=30)


async def shoot_pickle_question(window: Any, models: Path, out: Path) -> None:
    """The opt-in dialog of the pickle checkpoint over the window, as Use as teacher shows it
    (opened without blocking, so the event loop can grab the screen)."""
    from studio.ui.pickle_opt_in import pickle_dialog

    names = [entry.name for entry in window.library.entries]
    window.library_panel.table.selectRow(names.index(PICKLE_NAME))
    box = pickle_dialog(window, models / PICKLE_NAME)
    box.open()
    await asyncio.sleep(0.6)
    frame = window.frameGeometry()
    shot = window.screen().grabWindow(0, frame.x(), frame.y(), frame.width(), frame.height())
    path = out / "pickle-opt-in.png"
    shot.save(str(path))
    print(path)
    box.reject()
    box.deleteLater()


def capture(out: Path) -> None:
    import qasync

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        models = build_demo_folder(Path(tmp) / "models")
        studio = private_studio(Path(tmp) / "studio")
        qasync.run(shoot(studio, models, out))


def main() -> None:
    screenshot_main(capture, ":98", __doc__)


if __name__ == "__main__":
    main()
