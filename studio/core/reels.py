"""What an animated comparison is made of: each pane's kept previews ("shots") on its own clock.

A comparison runs its lanes one after the other, so each lane keeps its own clock: a shot of
step k is placed at the lane's cumulative step time, the sum of `Timings.step_s[:k]`, and its
final image at the whole denoising time plus the decode. Played on one time axis, the panes
then form side by side as if they had run at once. Kept previews are bounded: at most
`MAX_SHOTS` per lane (evenly thinned, the last always kept), each a copy at most `MAX_SIDE`
pixels on its long side.

A grid row is played the same way: each cell a pane on its own clock (its `Timings` from
`GridCellFinished`), its previews attributed by the cell coordinate they carry, so a cell of few
steps holds its final image while the slower cells finish.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image

from studio.core.events import GridCellFinished, LaneFinished, Timings
from studio.core.grid import AxisName, value_label

MAX_SHOTS = 120
MAX_SIDE = 256

CellFrames = Mapping[tuple[int, int], Mapping[int, np.ndarray]]
"""Kept previews by grid cell (x, y), then by step."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Shot:
    """One image of a pane: the step it shows and when it appeared on the lane's clock."""

    step: int
    at_s: float
    image: np.ndarray
    final: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Reel:
    """One pane of an animation: who made it (role, model, sampler), its step count and its
    shots in time order."""

    role: str
    model: str
    sampler: str
    total: int
    shots: tuple[Shot, ...]

    @property
    def end_s(self) -> float:
        return self.shots[-1].at_s if self.shots else 0.0


def small_copy(image: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """A read-only uint8 HxWx3 copy at most `max_side` pixels on its long side."""
    rgb = np.asarray(image, dtype=np.uint8)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    height, width = rgb.shape[:2]
    if max(height, width) > max_side:
        scale = max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgb = np.asarray(Image.fromarray(rgb[:, :, :3]).resize(size, Image.Resampling.BOX))
    copy = np.array(rgb[:, :, :3], dtype=np.uint8)
    copy.flags.writeable = False
    return copy


class StepThinning:
    """Decides which steps a bounded preview history keeps: the newest always, the others only
    at a stride (1, 2, 4, ... steps) that doubles whenever more than `limit` would stay, so a
    run of any length keeps an even spread of its steps."""

    def __init__(self, limit: int) -> None:
        self.limit = max(2, limit)
        self.stride = 1

    def drops(self, steps: Collection[int]) -> list[int]:
        """The steps to drop now (none while all fit at the current stride)."""
        if not steps:
            return []
        *older, _newest = sorted(steps)
        while sum(1 for step in older if step % self.stride == 0) + 1 > self.limit:
            self.stride *= 2
        return [step for step in older if step % self.stride != 0]


class PreviewKeeper:
    """Keeps one lane's (or grid cell's) previews by step as small copies, at most `limit` of
    them (see `StepThinning`)."""

    def __init__(self, limit: int = MAX_SHOTS, max_side: int = MAX_SIDE) -> None:
        self.thinning = StepThinning(limit)
        self.max_side = max_side
        self.frames: dict[int, np.ndarray] = {}

    @property
    def limit(self) -> int:
        return self.thinning.limit

    def add(self, step: int, image: np.ndarray) -> None:
        self.frames[step] = small_copy(image, self.max_side)
        for drop in self.thinning.drops(self.frames):
            del self.frames[drop]

    def extend(self, frames: Mapping[int, np.ndarray]) -> PreviewKeeper:
        for step in sorted(frames):
            self.add(step, frames[step])
        return self


def step_clock(step_s: Iterable[float]) -> list[float]:
    """The lane's clock after each step: [0, t1, t1 + t2, ...] (index k = after step k)."""
    clock = [0.0]
    for seconds in step_s:
        clock.append(clock[-1] + max(0.0, float(seconds)))
    return clock


def lane_reel(role: str, finished: LaneFinished, frames: Mapping[int, np.ndarray]) -> Reel:
    """A lane's reel from its kept previews (step -> image) and its `LaneFinished`: step k at
    the lane's cumulative step time, the final image after the decode."""
    final = finished.images[0] if finished.images else None
    return Reel(
        role=role,
        model=finished.model.display_name,
        sampler=str(finished.params.sampler),
        total=finished.params.num_inference_steps,
        shots=timed_shots(finished.timings, frames, final, finished.steps),
    )


def timed_shots(
    timings: Timings, frames: Mapping[int, np.ndarray], final: np.ndarray | None, steps: int
) -> tuple[Shot, ...]:
    """Step k's preview at the run's cumulative step time, the final image (as step `steps`)
    after the decode."""
    clock = step_clock(timings.step_s)
    shots = [
        Shot(step=step, at_s=clock[min(step, len(clock) - 1)], image=small_copy(image))
        for step, image in sorted(frames.items())
        if step >= 1
    ]
    if final is not None:
        done = clock[-1] + max(0.0, timings.decode_s)
        shots.append(Shot(step=steps, at_s=done, image=small_copy(final), final=True))
    return tuple(shots)


def cell_timings(cell: GridCellFinished) -> Timings:
    """The cell's timings; a cell without per-step times (a scripted one) gets its total time
    spread evenly over its steps."""
    if cell.timings.step_s:
        return cell.timings
    steps = max(1, cell.params.num_inference_steps)
    total = cell.timings.total_s
    return Timings(step_s=(max(0.0, total) / steps,) * steps, total_s=total)


def cell_reel(cell: GridCellFinished, frames: Mapping[int, np.ndarray]) -> Reel:
    """One grid cell as a pane on its own clock: its kept previews (step -> image), then its
    image; a cell that could not run has no shots."""
    steps = cell.params.num_inference_steps
    shots: tuple[Shot, ...] = ()
    if cell.image is not None:
        timings = cell_timings(cell)
        done = len(timings.step_s) if cell.partial else steps
        shots = timed_shots(timings, frames, cell.image, done)
    return Reel(
        role=cell.label,
        model=cell.model.display_name,
        sampler=unnamed_recipe(cell),
        total=steps,
        shots=shots,
    )


def unnamed_recipe(cell: GridCellFinished) -> str:
    """The sampler and CFG of a cell that its label (its axis values) does not already name,
    e.g. "CFG 3" under "DDIM · 20 steps"."""
    named = set(cell.label.split(" · "))
    recipe = (str(cell.params.sampler), value_label(AxisName.guidance, cell.params.guidance_scale))
    return " · ".join(part for part in recipe if part not in named)


def grid_row_reels(
    cells: Iterable[GridCellFinished], previews: CellFrames | None = None
) -> list[Reel]:
    """A grid row's cells, left to right, each a reel of its kept previews (by cell, then step)
    on its own clock; without previews each cell appears when its run finished."""
    kept = previews or {}
    return [
        cell_reel(cell, kept.get((cell.x, cell.y), {})) for cell in sorted(cells, key=lambda c: c.x)
    ]
