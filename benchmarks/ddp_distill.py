"""Consistency distillation steps/s on Ray Train: 2 DDP workers (1 thread each) against 1.

The embedded teacher (assets/models/emoji-teacher) distilled as `studio distill --method
consistency` does (global batch 32, bfloat16 autocast, CFG 3), on random latents and captions of
the dataset's shapes (throughput needs no dataset). Cases, all with the same global batch: one
process with 1 thread (the local run, what `--workers 1` is), 1 Ray Train worker, and 2 Ray Train
workers each taking half of every batch. Each case warms up, then times its steps inside the
workers; Ray's start-up (spawning the controller and workers, the process group) is reported
apart. Ray runs its workers at nice 15 by default; here at 0, as the local run. Ray binds the
machine's address outside a private network namespace, so run it in one:

    unshare -n bash -c 'ip link set lo up && exec python -m benchmarks.ddp_distill [--steps S]'
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import machine
from studio.core.models import EMBEDDED_TEACHER
from studio.core.paths import embedded_model_dir
from studio.engine.text_encoder import MAX_TOKENS
from studio.lab.consistency import ConsistencyConfig, ConsistencyRun
from studio.lab.data_parallel import ONE_PROCESS, DataParallel
from studio.lab.distill_jobs import load_teacher_unet
from studio.lab.text_cache import PromptTable
from studio.lab.train_teacher import CaptionedImages

RESULT = "steps.json"


class RandomCaptions(CaptionedImages):
    """Random latents and three random captions shaped as the teacher's training data."""

    def __init__(self, channels: int, size: int, width: int, images: int = 64) -> None:
        gen = torch.Generator().manual_seed(0)
        self.latents = torch.rand((images, channels, size, size), generator=gen) * 2 - 1
        self.table = PromptTable(
            ("", "a", "b"),
            torch.randn((3, MAX_TOKENS, width), generator=gen),
            torch.ones((3, MAX_TOKENS), dtype=torch.int8),
            torch.randn((3, width), generator=gen),
        )
        self.rows = torch.from_numpy(np.array([[1, 2, 1]] * images))
        self.empty = 0


def timed_steps(warmup: int, steps: int, batch: int, out: Path, parallel: DataParallel) -> None:
    """Warm up, then time `steps` consistency steps; the writer saves steps/s to `out`."""
    torch.set_num_threads(1)
    teacher = load_teacher_unet(embedded_model_dir(EMBEDDED_TEACHER))
    config = teacher.config
    data = RandomCaptions(config.in_channels, config.sample_size, config.cross_attention_dim)
    cfg = ConsistencyConfig(steps=warmup + steps, batch_size=batch)
    run = ConsistencyRun(out / "run", data, teacher, cfg, parallel)
    for _ in range(warmup):
        run.train_step()
    started = time.perf_counter()
    for _ in range(steps):
        run.train_step()
    seconds = time.perf_counter() - started
    if parallel.writes:
        (out / RESULT).write_text(json.dumps({"steps_per_s": steps / seconds}))


def only_loopback() -> bool:
    return {name for _, name in socket.if_nameindex()} <= {"lo"}


def one_case(workers: int, args: argparse.Namespace) -> tuple[float, float]:
    """(steps/s, seconds from start to finish) of `workers` Ray Train workers, or of this
    process alone for 0."""
    with tempfile.TemporaryDirectory(prefix="studio-ddp-bench-") as folder:
        out = Path(folder)
        job = partial(timed_steps, args.warmup, args.steps, args.batch, out)
        started = time.perf_counter()
        if workers == 0:
            job(ONE_PROCESS)
        else:
            from studio.cluster.train import RayRun, train_on_ray

            run = RayRun(workers=workers, storage=out / "ray", max_failures=0)
            train_on_ray(job, out / "run" / "checkpoint.pt", run)
        wall = time.perf_counter() - started
        return json.loads((out / RESULT).read_text())["steps_per_s"], wall


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ddp_distill", description=__doc__)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per case")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--batch", type=int, default=32, help="the global batch")
    args = parser.parse_args()
    if not only_loopback():
        print(__doc__.split("\n\n")[-1].strip())
        return 2
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ["RAY_worker_niceness"] = "0"  # noqa: SIM112 (Ray's own spelling)
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    load_before = os.getloadavg()[0]
    try:
        cases = {"one process (local run)": 0, "1 Ray Train worker": 1, "2 Ray Train workers": 2}
        results = {name: one_case(workers, args) for name, workers in cases.items()}
    finally:
        ray.shutdown()
    print(
        f"{machine()}; global batch {args.batch}, {args.steps} timed steps; load average "
        f"(1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print("| case | steps/s | whole case, wall (s) |\n|---|---|---|")
    for name, (rate, wall) in results.items():
        print(f"| {name} | {rate:.3f} | {wall:.0f} |")
    two = results["2 Ray Train workers"][0]
    print(
        f"2 workers / one process: {two / results['one process (local run)'][0]:.2f}x; "
        f"2 workers / 1 worker: {two / results['1 Ray Train worker'][0]:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
