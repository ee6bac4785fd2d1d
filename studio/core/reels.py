"""What an animated comparison is made of: each pane's kept previews ("shots") on its own clock.

A comparison runs its lanes one after the other, so each lane keeps its own clock: a shot of
step k is placed at the lane's cumulative step time, the sum of `Timings.step_s[:k]`, and its
final image at the whole denoising time plus the decode. Played on one time axis, the panes
then form side by side as if they had run at once. Kept previews are bounded: at most
`MAX_SHOTS` per lane (evenly thinned, the last always kept), each a copy at most `MAX_SIDE`
pixels on its long side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image

from studio.core.events import GridCellFinished, LaneFinished

MAX_SHOTS = 120
MAX_SIDE = 256


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


class PreviewKeeper:
    """Keeps one lane's previews by step, bounded: past `limit`, every other kept step is
    dropped (the newest stays), so a long run keeps an even spread of its steps."""

    def __init__(self, limit: int = MAX_SHOTS, max_side: int = MAX_SIDE) -> None:
        self.limit = max(2, limit)
        self.max_side = max_side
        self.frames: dict[int, np.ndarray] = {}

    def add(self, step: int, image: np.ndarray) -> None:
        self.frames[step] = small_copy(image, self.max_side)
        if len(self.frames) > self.limit:
            steps = sorted(self.frames)
            for drop in steps[-2::-2]:
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
    timings = finished.timings
    clock = step_clock(timings.step_s)
    shots = [
        Shot(step=step, at_s=clock[min(step, len(clock) - 1)], image=small_copy(image))
        for step, image in sorted(frames.items())
        if step >= 1
    ]
    if finished.images:
        done = clock[-1] + max(0.0, timings.decode_s)
        shots.append(
            Shot(step=finished.steps, at_s=done, image=small_copy(finished.images[0]), final=True)
        )
    return Reel(
        role=role,
        model=finished.model.display_name,
        sampler=str(finished.params.sampler),
        total=finished.params.num_inference_steps,
        shots=tuple(shots),
    )


def grid_row_reels(cells: Iterable[GridCellFinished]) -> list[Reel]:
    """A grid row's cells as reels of one final shot each, at the cell's wall time: a grid
    keeps no step previews, so the row shows each cell appearing when it finished."""
    reels = []
    for cell in sorted(cells, key=lambda c: c.x):
        shots: tuple[Shot, ...] = ()
        if cell.image is not None:
            steps = cell.params.num_inference_steps
            image = small_copy(cell.image)
            shots = (Shot(step=steps, at_s=max(0.0, cell.wall_s), image=image, final=True),)
        reels.append(
            Reel(
                role=cell.label,
                model=cell.model.display_name,
                sampler=str(cell.params.sampler),
                total=cell.params.num_inference_steps,
                shots=shots,
            )
        )
    return reels
