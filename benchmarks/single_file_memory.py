"""Peak memory of loading a full-size SD 1.5 as a diffusers folder and as one single file.

`build DIR` writes a full-size SD 1.5 with random weights (the shipped configs, see
benchmarks.random_pipelines) twice, in float16 as downloaded checkpoints usually are: as a
diffusers folder (DIR/sd15) and as one original-layout safetensors file (DIR/sd15.safetensors,
written by the converter the single-file tests use). `measure DIR` runs `studio generate` on each
in a fresh process (the peak resident set size of that process, from getrusage) and checks the
two images are the same pixels.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.single_file_memory build /tmp/sd15-random
    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.single_file_memory measure /tmp/sd15-random
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

GENERATE = ["--steps", "2", "--width", "256", "--height", "256", "--seed", "1", "--quiet"]


def build(root: Path) -> None:
    import torch

    from benchmarks.random_pipelines import build as build_pipeline
    from tests.engine.ldm_layout import save_single_file

    root.mkdir(parents=True, exist_ok=True)
    pipe = build_pipeline("sd15", "cpu", torch.float32)
    with torch.no_grad():  # random_pipelines zeroes it; the images should depend on the UNet
        torch.manual_seed(1)
        pipe.unet.conv_out.weight.normal_(0.0, 0.02)
    pipe.to(torch.float16)
    pipe.save_pretrained(root / "sd15", safe_serialization=True)
    save_single_file(pipe, "sd1", root / "sd15.safetensors")


def _peak_run(model: str, out: Path) -> dict[str, object]:
    """`studio generate` on `model` in a child process: its peak RSS and what it printed."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "studio", "generate", "-m", model, "-o", str(out), *GENERATE],
        capture_output=True,
        text=True,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{model}: {done.stderr[-2000:]}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"model": model, "peak_mib": peak_kib / 1024, "wall_s": wall, "said": done.stdout}


def measure(root: Path) -> None:
    """One child per load (RUSAGE_CHILDREN keeps the largest child so far: the single file runs
    in its own wrapper process so the folder's peak cannot hide it)."""
    import numpy as np
    from PIL import Image

    rows = []
    for name in ("sd15", "sd15.safetensors"):
        wrapper = subprocess.run(
            [sys.executable, "-m", "benchmarks.single_file_memory", "one", str(root / name)],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(wrapper.stdout.splitlines()[-1]))
    images = [
        np.asarray(Image.open(str(root / name) + ".png")) for name in ("sd15", "sd15.safetensors")
    ]
    for row in rows:
        print(f"{row['model']}: peak RSS {row['peak_mib']:.0f} MiB, wall {row['wall_s']:.1f} s")
        print("   ", row["said"].strip())
    print("pixel-identical:", bool(np.array_equal(images[0], images[1])))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["build", "measure", "one"])
    parser.add_argument("path", type=Path)
    args = parser.parse_args()
    if args.what == "build":
        build(args.path)
    elif args.what == "measure":
        measure(args.path)
    else:
        print(json.dumps(_peak_run(str(args.path), Path(str(args.path) + ".png"))))


if __name__ == "__main__":
    main()
