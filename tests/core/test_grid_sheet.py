"""The labelled grid picture: size, cell placement, pending and failed cells."""

from __future__ import annotations

import numpy as np

from studio.core.events import GridCellFinished, Timings
from studio.core.grid import parse_grid
from studio.core.grid_sheet import cell_caption, grid_sheet, layout, title_lines
from studio.core.models import ModelRef
from studio.core.params import GenerationParams

GRID = parse_grid("sampler=DDIM,Euler,DPM++ 2M", "steps=4,8")
MODEL = ModelRef.embedded("emoji-teacher")


def cell(x: int, y: int, shade: int | None = 200, error: str = "") -> GridCellFinished:
    image = None if shade is None else np.full((32, 32, 3), shade, dtype=np.uint8)
    label = f"{GRID.x.labels()[x]} · {GRID.y.labels()[y]}"
    return GridCellFinished(
        job_id="j", x=x, y=y, image=image, label=label, nfe=8,
        params=GenerationParams(), model=MODEL, error=error, timings=Timings(total_s=0.25),
    )  # fmt: skip


def test_cells_land_in_their_boxes_upscaled_and_captioned() -> None:
    cells = [cell(0, 0, 10), cell(2, 1, 250)]
    sheet = grid_sheet(GRID, cells, title="emoji-teacher · a long title · seed 0")
    box = layout(GRID, cells, "emoji-teacher · a long title · seed 0")
    assert sheet.shape == (box.size[1], box.size[0], 3) and sheet.dtype == np.uint8
    assert box.image_w >= 144 and box.image_w % 32 == 0
    left, top = box.origin(0, 0)
    assert (sheet[top : top + box.image_h, left : left + box.image_w] == 10).all()
    left, top = box.origin(2, 1)
    assert (sheet[top + 5, left + 5] == 250).all()
    left, top = box.origin(1, 0)
    assert tuple(sheet[top + 5, left + 5]) == (230, 230, 230), "a pending cell is grey"


def test_captions_name_values_time_and_evaluations() -> None:
    assert cell_caption(cell(1, 1)) == ["Euler", "8 steps", "0.25 s · 8 NFE"]
    failed = cell(0, 0, None, error="'Heun' does not fit this model.")
    assert cell_caption(failed)[-1] == "could not run"
    sheet = grid_sheet(GRID, [failed])
    assert sheet.ndim == 3


def test_long_titles_wrap_at_separators() -> None:
    lines = title_lines(" · ".join(["a fairly long part of a title"] * 6), 300)
    assert len(lines) > 1 and all(" · " not in line[:1] for line in lines)
