"""A labelled X/Y grid picture (numpy + Pillow): axis headers, and under each cell its values,
its time and its model evaluations."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from studio.core.events import GridCellFinished
from studio.core.grid import AxisName, GridSpec, axis_text
from studio.core.metadata import format_parameters
from studio.core.params import GenerationParams

CELL_MIN_PX = 144
PAD = 8
FONT_PX = 12
TITLE_PX = 14
INK = (20, 20, 20)
MUTED = (90, 90, 90)
ERROR_FILL = (236, 228, 228)
PENDING_FILL = (230, 230, 230)


@dataclass(frozen=True, slots=True)
class SheetLayout:
    """Where everything goes: image scale, cell box, header sizes, and the canvas size."""

    scale: int
    image_w: int
    image_h: int
    caption_h: int
    header_w: int
    top_h: int
    columns: int
    rows: int
    title: tuple[str, ...] = ()

    @property
    def cell_w(self) -> int:
        return self.image_w + PAD

    @property
    def cell_h(self) -> int:
        return self.image_h + self.caption_h + PAD

    @property
    def size(self) -> tuple[int, int]:
        return (
            self.header_w + self.columns * self.cell_w + PAD,
            self.top_h + self.rows * self.cell_h + PAD,
        )

    def origin(self, x: int, y: int) -> tuple[int, int]:
        return self.header_w + x * self.cell_w, self.top_h + y * self.cell_h


def font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=px)


def cell_caption(cell: GridCellFinished) -> list[str]:
    """The lines under a cell: its axis values, then its time and evaluations."""
    lines = cell.label.split(" · ")
    if cell.error:
        return [*lines, "could not run"]
    partial = " · partial" if cell.partial else ""
    return [*lines, f"{cell.wall_s:.2f} s · {cell.nfe} NFE{partial}"]


def title_lines(title: str, width: int) -> tuple[str, ...]:
    """`title` broken at its " · " separators into lines no wider than `width` pixels."""
    if not title:
        return ()
    face, lines, line = font(TITLE_PX), [], ""
    for part in title.split(" · "):
        candidate = f"{line} · {part}" if line else part
        if line and face.getlength(candidate) > width:
            lines.append(line)
            candidate = part
        line = candidate
    return (*lines, line)


def layout(grid: GridSpec, cells: Sequence[GridCellFinished], title: str) -> SheetLayout:
    shapes = [c.image.shape for c in cells if c.image is not None] or [(32, 32, 3)]
    height, width = max(s[0] for s in shapes), max(s[1] for s in shapes)
    scale = max(1, -(-CELL_MIN_PX // max(height, width)))
    caption_lines = 1 + (2 if grid.y is not None else 1)
    measure = font(FONT_PX)
    header_w = PAD
    if grid.y is not None:
        widest = max(measure.getlength(text) for text in grid.y.labels())
        header_w = int(widest) + 2 * PAD
    image_w = width * scale
    lines = title_lines(title, header_w + grid.columns * (image_w + PAD) - PAD)
    top_h = PAD + len(lines) * (TITLE_PX + 4) + PAD + FONT_PX + PAD
    return SheetLayout(
        scale=scale,
        image_w=image_w,
        image_h=height * scale,
        caption_h=caption_lines * (FONT_PX + 3) + 4,
        header_w=header_w,
        top_h=top_h,
        columns=grid.columns,
        rows=grid.rows,
        title=lines,
    )


def grid_sheet(grid: GridSpec, cells: Sequence[GridCellFinished], title: str = "") -> np.ndarray:
    """The grid as one uint8 HxWx3 picture on white; cells not (yet) finished are grey."""
    box = layout(grid, cells, title)
    canvas = Image.new("RGB", box.size, "white")
    draw = ImageDraw.Draw(canvas)
    for index, line in enumerate(box.title):
        draw.text((PAD, PAD + index * (TITLE_PX + 4)), line, fill=INK, font=font(TITLE_PX))
    _headers(draw, grid, box)
    done = {(c.x, c.y): c for c in cells}
    for y in range(box.rows):
        for x in range(box.columns):
            _cell(canvas, draw, box, x, y, done.get((x, y)))
    return np.asarray(canvas, dtype=np.uint8).copy()


def _headers(draw: ImageDraw.ImageDraw, grid: GridSpec, box: SheetLayout) -> None:
    small = font(FONT_PX)
    header_y = box.top_h - FONT_PX - PAD
    for x, text in enumerate(grid.x.labels()):
        left, _ = box.origin(x, 0)
        draw.text((left, header_y), _fit(text, box.image_w, small), fill=INK, font=small)
    if grid.y is None:
        return
    for y, text in enumerate(grid.y.labels()):
        _, top = box.origin(0, y)
        draw.text((PAD, top + box.image_h // 2 - FONT_PX // 2), text, fill=INK, font=small)


def _cell(
    canvas: Image.Image,
    draw: ImageDraw.ImageDraw,
    box: SheetLayout,
    x: int,
    y: int,
    cell: GridCellFinished | None,
) -> None:
    left, top = box.origin(x, y)
    small = font(FONT_PX)
    frame = (left, top, left + box.image_w - 1, top + box.image_h - 1)
    if cell is None or cell.image is None:
        draw.rectangle(frame, fill=ERROR_FILL if cell is not None else PENDING_FILL)
        if cell is not None:
            room = max(1, (box.image_h - 8) // (FONT_PX + 4))
            wrapped = textwrap.wrap(cell.error, width=max(10, box.image_w // 7))[:room]
            draw.multiline_text((left + 4, top + 4), "\n".join(wrapped), fill=MUTED, font=small)
    else:
        picture = Image.fromarray(np.asarray(cell.image, dtype=np.uint8))
        size = (picture.width * box.scale, picture.height * box.scale)
        canvas.paste(picture.resize(size, Image.Resampling.NEAREST), (left, top))
    if cell is None:
        return
    line_y = top + box.image_h + 3
    for index, text in enumerate(cell_caption(cell)):
        colour = MUTED if index == len(cell_caption(cell)) - 1 else INK
        draw.text((left, line_y), _fit(text, box.image_w, small), fill=colour, font=small)
        line_y += FONT_PX + 3


def _fit(text: str, width: int, face: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> str:
    """`text`, shortened with an ellipsis until it fits `width` pixels."""
    if face.getlength(text) <= width:
        return text
    while text and face.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def grid_title(model: str, params: GenerationParams, grid: GridSpec) -> str:
    """The sheet's title: model, prompt, seed, and the base values no axis varies."""
    prompt = params.prompt if len(params.prompt) <= 60 else params.prompt[:59] + "…"
    varied = {axis.name for axis in grid.axes()}
    fixed = {
        AxisName.sampler: params.sampler,
        AxisName.steps: f"{params.num_inference_steps} steps",
        AxisName.guidance: f"CFG {params.guidance_scale:g}",
    }
    if params.eta:
        fixed[AxisName.eta] = f"eta {params.eta:g}"
    if params.skip_tuning.enabled:
        fixed[AxisName.skip_top] = f"Skip-Tuning {params.skip_tuning.label()}"
    if varied & {AxisName.skip_top, AxisName.skip_bottom, AxisName.lane}:
        fixed.pop(AxisName.skip_top, None)
    if AxisName.lane in varied:
        fixed = {}
    kept = [text for name, text in fixed.items() if name not in varied]
    head = [] if varied & {AxisName.model, AxisName.lane} else [model]
    return " · ".join(
        [*head, f"“{prompt}”", f"seed {params.seed}", *kept, "same starting noise in every cell"]
    )


def grid_parameters(params: GenerationParams, model: str, grid: GridSpec) -> str:
    extra = {"Grid X": axis_text(grid.x)}
    if grid.y is not None:
        extra["Grid Y"] = axis_text(grid.y)
    return format_parameters(params, model=model, extra=extra)
