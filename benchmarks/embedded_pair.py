"""Latency of the embedded pair at batch 1, through the engine's Runner (what the studio runs).

Cases (each only when its model is installed under assets/models): the teacher with 50 steps
DPM++ 2M and CFG 3 (target < 3.5 s), the teacher with DPM++ 2M 10 steps, the teacher with its own
4-step recipe, and each shipped student with its recommended recipe (target for the 4-step
student: < 0.3 s). Models are loaded once and warmed up; cases run interleaved.
Run: `python -m benchmarks.embedded_pair [--repeats N] [--threads T]`.
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.common import interleaved, machine
from studio.core.jobs import GenerateJob, LaneSpec, PreviewOptions
from studio.core.models import ModelRef
from studio.core.params import GenerationParams
from studio.engine.cancel import CancelToken
from studio.engine.model_cache import ModelCache
from studio.engine.runner import Runner
from studio.lab.eval_job import installed, recipe_for

PROMPT = "red heart, smileys & emotion, heart, noto style"
STUDENTS = (
    "emoji-student-4step",
    "emoji-student-2step",
    "emoji-student-1step",
    "emoji-student-lcm",
)
TARGETS = {"teacher, DPM++ 2M, 50 steps, CFG 3": 3.5, "emoji-student-4step": 0.3}


class _Drop:
    """An event sink that keeps nothing."""

    def emit(self, event) -> None:
        pass

    def offer_preview(self, lane, make) -> bool:
        return False


def _job(name: str, sampler: str, steps: int, guidance: float, eta: float = 0.0) -> GenerateJob:
    params = GenerationParams(
        prompt=PROMPT,
        sampler=sampler,
        num_inference_steps=steps,
        guidance_scale=guidance,
        eta=eta,
        seed=1,
        width=32,
        height=32,
    )
    lane = LaneSpec(model=ModelRef.embedded(name), params=params)
    return GenerateJob(lane=lane, previews=PreviewOptions(every=0))


def cases() -> dict[str, GenerateJob]:
    found = {
        "teacher, DPM++ 2M, 50 steps, CFG 3": _job("emoji-teacher", "DPM++ 2M", 50, 3.0),
        "teacher, DPM++ 2M, 10 steps, CFG 3": _job("emoji-teacher", "DPM++ 2M", 10, 3.0),
        "teacher, DDIM trailing, 4 steps, CFG 1": _job("emoji-teacher", "DDIM trailing", 4, 1.0),
    }
    for name in STUDENTS:
        if installed(name):
            r = recipe_for(name)
            found[name] = _job(name, r.sampler, r.num_inference_steps, r.guidance_scale, r.eta)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    runner = Runner(ModelCache(capacity=len(STUDENTS) + 1))
    jobs = cases()
    variants = {
        label: (lambda j=job: runner.run(j, CancelToken(), _Drop())) for label, job in jobs.items()
    }
    samples = interleaved(variants, args.repeats, warmup=1)
    print(f"Machine: {machine()}\n")
    print("| case | median s | spread | target |")
    print("|---|---|---|---|")
    for label, sample in samples.items():
        target = TARGETS.get(label)
        verdict = (
            "–"
            if target is None
            else f"< {target} s ({'met' if sample.median < target else 'missed'})"
        )
        print(f"| {label} | {sample.median:.3f} | ±{sample.spread:.0%} | {verdict} |")


if __name__ == "__main__":
    main()
