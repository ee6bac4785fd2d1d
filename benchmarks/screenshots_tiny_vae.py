"""A tiny-VAE preview mid-run, grabbed from the real window under Xvfb: `tiny-vae-preview.png`.

The model is the tests' tiny SD pipeline and the tiny VAE a full-size `AutoencoderTiny` (the
TAESD shape, diffusers' default config), both with RANDOM weights, saved to a temporary folder
named as the window's tiny-VAE folder; "Preview with: Tiny VAE" is chosen in the preview
options. The window is grabbed while the image forms; random weights draw no picture, only
the size (the tiny decoder's 8x upsampling) and texture of a decoded preview (a random TAESD
draws near-black, so its last layer is scaled 15x and shifted to mid-grey to show that texture).
Run: `python -m benchmarks.screenshots_tiny_vae [--out docs/screenshots] [--display :95]`.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from benchmarks.screenshots import private_studio, screenshot_main, until

SIZE = (1440, 900)
STEPS = 12
LAST_LAYER_GAIN = 15.0


def prepare(folder: Path) -> None:
    """The tiny SD pipeline, a random TAESD in `tiny-vaes/taesd`, and settings that use them."""
    import torch
    from diffusers import AutoencoderTiny

    from studio.core.jobs import PreviewDecoder
    from studio.core.settings import LaneRecipe, Settings, SharedParams, save_settings
    from tests.engine.tiny import save_tiny_sd_pipeline

    pipeline = save_tiny_sd_pipeline(folder / "tiny-sd-random")
    torch.manual_seed(0)
    tiny = AutoencoderTiny()
    with torch.no_grad():  # random weights draw near-black: the last layer scaled to show them
        last = tiny.decoder.layers[-1]
        last.weight.mul_(LAST_LAYER_GAIN)
        last.bias.mul_(LAST_LAYER_GAIN).add_(0.27)
    tiny.save_pretrained(folder / "tiny-vaes" / "taesd", safe_serialization=True)
    settings = Settings(
        welcomed=True,
        compare_mode=False,
        teacher_model=str(pipeline),
        shared=SharedParams(prompt="a red cube", seed=3, width=64, height=64),
        teacher=LaneRecipe(sampler="Euler", num_inference_steps=STEPS, guidance_scale=5.0),
        preview_every=1,
        preview_decoder=PreviewDecoder.tiny,
        tiny_vae_dir=str(folder / "tiny-vaes"),
    )
    save_settings(folder / "settings.json", settings)


class TinyVaeShooter:
    def __init__(self, studio, out: Path) -> None:
        self.studio, self.window, self.out = studio, studio.window, out

    async def run(self) -> None:
        window, session = self.window, self.studio.session
        running = asyncio.ensure_future(self.studio.run())
        await until(window.isVisible)
        window.resize(*SIZE)
        await until(lambda: window.status_line.text().startswith("Ready"), timeout=300)
        window.generate()
        await until(
            lambda: session.teacher.step >= STEPS // 2 and session.teacher.preview is not None,
            timeout=600,
            poll=0,
        )
        await asyncio.sleep(0.2)
        path = self.out / "tiny-vae-preview.png"
        self.window.grab().save(str(path))
        print(path, "preview", session.teacher.preview.shape, "status", window.status_line.text())
        await until(lambda: not session.busy, timeout=600)
        window.close()
        await asyncio.wait_for(running, timeout=30)


def shoot(out: Path) -> None:
    import qasync

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        prepare(folder)
        studio = private_studio(folder, welcomed=False)  # keeps the settings written above
        qasync.run(TinyVaeShooter(studio, out).run())


def main() -> None:
    screenshot_main(shoot, ":95", __doc__)


if __name__ == "__main__":
    main()
