"""Prompt encodings once (issue 20): a comparison's encode time with and without the cache.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.prompt_encodings

Runs the embedded teacher against itself at another step count (both lanes with guidance, so
both encode the same negative-and-prompt batch) and the embedded teacher against the shortcut
model (guidance 3 against 1: two different batches), through the engine's Runner, each
comparison `REPEATS` times with fresh seeds and the same prompt; prints the median of the two
lanes' summed `Timings.encode_s` and how often MiniLM really ran, without the cache and with it.
"""

from __future__ import annotations

import statistics
import time

import torch

from studio.core.events import LaneFinished
from studio.core.jobs import CompareJob, LaneSpec, PreviewOptions
from studio.core.models import ModelRef
from studio.core.params import GenerationParams
from studio.core.shortcut import SHORTCUT_SAMPLER
from studio.engine.cancel import CancelToken
from studio.engine.loading import shared_text_encoder
from studio.engine.model_cache import ModelCache
from studio.engine.prompt_cache import PromptCache
from studio.engine.runner import Runner

REPEATS = 15
PROMPT = "grinning face, smileys & emotion, face-smiling, flat"


class Sink:
    def __init__(self) -> None:
        self.encode_s = 0.0

    def emit(self, event: object) -> None:
        if isinstance(event, LaneFinished):
            self.encode_s += event.timings.encode_s

    def offer_preview(self, lane: object, make: object) -> bool:
        return False


def lane(name: str, sampler: str, steps: int, guidance: float, seed: int) -> LaneSpec:
    params = GenerationParams(
        prompt=PROMPT,
        sampler=sampler,
        num_inference_steps=steps,
        guidance_scale=guidance,
        seed=seed,
        width=32,
        height=32,
    )
    return LaneSpec(model=ModelRef.embedded(name), params=params)


PAIRS = {
    "teacher 20 steps vs teacher 4 steps, CFG 3 both": lambda seed: CompareJob(
        teacher=lane("emoji-teacher", "DPM++ 2M", 20, 3.0, seed),
        student=lane("emoji-teacher", "DPM++ 2M", 4, 3.0, seed),
        previews=PreviewOptions(every=0),
    ),
    "teacher (CFG 3) vs shortcut (CFG 1)": lambda seed: CompareJob(
        teacher=lane("emoji-teacher", "DPM++ 2M", 20, 3.0, seed),
        student=lane("emoji-shortcut", SHORTCUT_SAMPLER, 4, 1.0, seed),
        previews=PreviewOptions(every=0),
    ),
}


def measure(pair: str, cache: PromptCache) -> tuple[float, float, int]:
    """The first comparison's encode seconds, the median of the rest, and MiniLM's passes."""
    runner = Runner(ModelCache(capacity=2), prompt_cache=cache)
    runner.run(PAIRS[pair](0), CancelToken(), Sink())  # loads both models, warms up
    cache.clear()
    encoder, _ = shared_text_encoder()
    passes = [0]
    hook = next(encoder.children()).register_forward_hook(
        lambda *_: passes.__setitem__(0, passes[0] + 1)
    )
    times = []
    try:
        for seed in range(1, REPEATS + 1):
            sink = Sink()
            runner.run(PAIRS[pair](seed), CancelToken(), sink)
            times.append(sink.encode_s)
    finally:
        hook.remove()
    return times[0], statistics.median(times[1:]), passes[0]


def main() -> None:
    torch.set_num_threads(1)
    started = time.perf_counter()
    for pair in PAIRS:
        for label, cache in (("without", PromptCache(capacity=0)), ("with", PromptCache())):
            first, rest, passes = measure(pair, cache)
            print(
                f"{pair}, {label} the cache: first comparison {first * 1000:.1f} ms, "
                f"later ones (median of {REPEATS - 1}) {rest * 1000:.1f} ms, "
                f"MiniLM passes in {REPEATS} comparisons: {passes}"
            )
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
