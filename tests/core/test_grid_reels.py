"""A grid row's animation: each cell's kept previews on its own clock, found by cell."""

from __future__ import annotations

import numpy as np

from studio.core.animation import Timing, caption_lines, timeline
from studio.core.events import GridCellFinished, Timings
from studio.core.models import ModelRef
from studio.core.params import GenerationParams
from studio.core.reels import PreviewKeeper, StepThinning, cell_reel, grid_row_reels


def shade(value: int, side: int = 16) -> np.ndarray:
    return np.full((side, side, 3), value, dtype=np.uint8)


def cell(
    x: int, steps: int, step_s: float, *, y: int = 0, sampler: str = "DDIM"
) -> GridCellFinished:
    timings = Timings(load_s=1.0, step_s=(step_s,) * steps, decode_s=0.1, total_s=9.0)
    return GridCellFinished(
        job_id="g", x=x, y=y, image=shade(200 + x), label=f"{sampler} · {steps} steps",
        nfe=steps, params=GenerationParams(sampler=sampler, num_inference_steps=steps),
        model=ModelRef.embedded("emoji-teacher"), timings=timings,
    )  # fmt: skip


def previews(steps: int, base: int) -> dict[int, np.ndarray]:
    return {k: shade(base + k) for k in range(1, steps + 1)}


def test_a_grid_row_forms_step_by_step_each_cell_on_its_own_clock() -> None:
    row = [cell(1, 4, 0.5), cell(0, 2, 0.5, sampler="Euler"), cell(2, 8, 0.5, y=1)]
    kept = {(0, 0): previews(2, 10), (1, 0): previews(4, 20), (2, 1): previews(8, 30)}
    reels = grid_row_reels([c for c in row if c.y == 0], kept)
    assert [r.role for r in reels] == ["Euler · 2 steps", "DDIM · 4 steps"]
    fast, slow = reels
    assert [(s.step, s.at_s, s.final) for s in fast.shots] == [
        (1, 0.5, False), (2, 1.0, False), (2, 1.1, True),
    ]  # fmt: skip
    assert [s.image[0, 0, 0] for s in slow.shots] == [21, 22, 23, 24, 201]
    frames = timeline(reels, Timing(duration_s=2.1, frame_s=0.5, hold_s=1.0))
    assert [f.shots for f in frames] == [(-1, -1), (0, 0), (1, 1), (2, 2), (2, 3), (2, 4)]
    assert frames[-1].duration_ms == 1000, "the end is held while the fast cell already waits"
    assert caption_lines(fast, fast.shots[0]) == (
        "Euler · 2 steps: emoji-teacher", "CFG 5", "step 1/2 · 0.50 s",
    ), "the second line names what the cell's label does not: here the CFG"  # fmt: skip
    assert caption_lines(slow, slow.shots[-1])[2] == "step 4/4 · 2.10 s · done"


def test_a_cell_without_step_times_spreads_its_wall_time_and_a_failed_cell_has_no_shots() -> None:
    old = GridCellFinished(
        job_id="g", x=0, y=0, image=shade(1), label="a", nfe=4,
        timings=Timings(total_s=2.0),
        params=GenerationParams(num_inference_steps=4), model=ModelRef.embedded("emoji-teacher"),
    )  # fmt: skip
    reel = cell_reel(old, {2: shade(5)})
    assert [(s.step, s.at_s) for s in reel.shots] == [(2, 1.0), (4, 2.0)]
    failed = cell_reel(GridCellFinished(**{**_fields(old), "image": None, "error": "no"}), {})
    assert failed.shots == ()


def _fields(event: GridCellFinished) -> dict:
    return {name: getattr(event, name) for name in event.__dataclass_fields__}


def test_thinning_keeps_the_newest_and_an_even_spread() -> None:
    thinning = StepThinning(4)
    assert thinning.drops(range(1, 5)) == [] and thinning.stride == 1
    assert thinning.drops(range(1, 6)) == [1, 3] and thinning.stride == 2
    assert thinning.drops([2, 4, 5, 6]) == [5], "the stride holds once doubled"
    keeper = PreviewKeeper(limit=8)
    for step in range(1, 41):
        keeper.add(step, shade(step))
    assert sorted(keeper.frames) == [8, 16, 24, 32, 40]


def test_a_cell_caption_names_the_sampler_only_when_no_axis_does() -> None:
    from studio.core.reels import unnamed_recipe

    by_steps = cell(0, 4, 0.5)
    assert unnamed_recipe(by_steps) == "CFG 5"
    by_cfg = GridCellFinished(**{**_fields(by_steps), "label": "CFG 3 · 4 steps"})
    by_cfg = GridCellFinished(
        **{**_fields(by_cfg), "params": by_steps.params.with_(guidance_scale=3.0)}
    )
    assert unnamed_recipe(by_cfg) == "DDIM"
    both = GridCellFinished(**{**_fields(by_cfg), "label": "DDIM · CFG 3"})
    assert unnamed_recipe(both) == ""
    prefix = GridCellFinished(**{**_fields(by_steps), "label": "DPM++ 2M SDE · 4 steps"})
    prefix = GridCellFinished(
        **{**_fields(prefix), "params": by_steps.params.with_(sampler="DPM++ 2M")}
    )
    assert unnamed_recipe(prefix) == "DPM++ 2M · CFG 5", "whole axis values, not substrings"
