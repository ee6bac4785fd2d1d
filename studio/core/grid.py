"""X/Y grids: which parameter each axis varies, the values it takes, and the cells they make.

An axis is written `NAME=V1,V2,...` (`sampler=DDIM,Euler`, `steps=4,8,16`, `guidance=1,3,5`,
`eta=0,0.5,1`, `skip_top=1,0.9`, `skip_bottom=1,0.9`, `model=NAME,NAME`). The window adds a
`lane` axis whose values are its teacher and student recipes. Every cell keeps the base seed,
prompt and size, so the engine can start all of them from the same noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from studio.core.models import ModelRef
from studio.core.params import MAX_GUIDANCE, MAX_STEPS, GenerationParams, ValidationError
from studio.core.samplers import SAMPLER_NAMES, find_sampler
from studio.core.skip_tuning import SKIP_MAX, SKIP_MIN

MAX_AXIS_VALUES = 16
MAX_GRID_CELLS = 100


class AxisName(StrEnum):
    """The parameters a grid axis can vary."""

    sampler = "sampler"
    steps = "steps"
    guidance = "guidance"
    eta = "eta"
    skip_top = "skip_top"
    skip_bottom = "skip_bottom"
    model = "model"
    lane = "lane"


PARSABLE_AXES = tuple(a for a in AxisName if a is not AxisName.lane)
ALIASES = {
    "cfg": AxisName.guidance,
    "guidance_scale": AxisName.guidance,
    "num_inference_steps": AxisName.steps,
    "rho_top": AxisName.skip_top,
    "rho_bottom": AxisName.skip_bottom,
}
MODEL_AXES = frozenset({AxisName.model, AxisName.lane})


@dataclass(frozen=True, slots=True, kw_only=True)
class LaneChoice:
    """A value of the `lane` axis: a named model and recipe (the window's teacher or student)."""

    name: str
    model: ModelRef
    params: GenerationParams


AxisValue = str | int | float | ModelRef | LaneChoice


def _number(value: float) -> str:
    return f"{value:g}"


def _real_value(value: AxisValue) -> float:
    """A numeric axis value (guidance, eta, skip factors) as a float."""
    if isinstance(value, ModelRef | LaneChoice):
        raise TypeError(f"A numeric grid axis holds {value!r}, which is not a number.")
    return float(value)


def value_label(name: AxisName, value: AxisValue) -> str:
    """How a cell's caption names one axis value, e.g. "8 steps" or "CFG 3"."""
    match name:
        case AxisName.steps:
            return f"{value} steps"
        case AxisName.guidance:
            return f"CFG {_number(_real_value(value))}"
        case AxisName.eta:
            return f"eta {_number(_real_value(value))}"
        case AxisName.skip_top:
            return f"skip top {_number(_real_value(value))}"
        case AxisName.skip_bottom:
            return f"skip bottom {_number(_real_value(value))}"
        case AxisName.model:
            return value.display_name if isinstance(value, ModelRef) else str(value)
        case AxisName.lane:
            return value.name if isinstance(value, LaneChoice) else str(value)
    return str(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Axis:
    """One grid axis: the parameter it varies and its values, in display order."""

    name: AxisName
    values: tuple[AxisValue, ...]

    def labels(self) -> tuple[str, ...]:
        return tuple(value_label(self.name, v) for v in self.values)

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True, slots=True, kw_only=True)
class GridCell:
    """One cell: its position, the model and parameters it runs, and its caption."""

    x: int
    y: int
    model: ModelRef
    params: GenerationParams
    label: str


def apply_value(
    name: AxisName, value: AxisValue, model: ModelRef, params: GenerationParams
) -> tuple[ModelRef, GenerationParams]:
    """The model and parameters of a cell after one axis sets its value."""
    match name:
        case AxisName.sampler:
            return model, params.with_(sampler=value)
        case AxisName.steps:
            return model, params.with_(num_inference_steps=value)
        case AxisName.guidance:
            return model, params.with_(guidance_scale=_real_value(value))
        case AxisName.eta:
            return model, params.with_(eta=_real_value(value))
        case AxisName.skip_top:
            skip = replace(params.skip_tuning, rho_top=_real_value(value))
            return model, params.with_(skip_tuning=skip)
        case AxisName.skip_bottom:
            skip = replace(params.skip_tuning, rho_bottom=_real_value(value))
            return model, params.with_(skip_tuning=skip)
        case AxisName.model:
            assert isinstance(value, ModelRef)
            return value, params
        case AxisName.lane:
            assert isinstance(value, LaneChoice)
            return value.model, _shared_from(params, value.params)
    raise ValueError(f"Unknown grid axis {name!r}.")


def _shared_from(base: GenerationParams, recipe: GenerationParams) -> GenerationParams:
    return recipe.with_(
        prompt=base.prompt,
        negative_prompt=base.negative_prompt,
        seed=base.seed,
        width=base.width,
        height=base.height,
        batch_size=base.batch_size,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class GridSpec:
    """The axes of an X/Y grid (Y is optional: one row)."""

    x: Axis
    y: Axis | None = None

    @property
    def columns(self) -> int:
        return len(self.x)

    @property
    def rows(self) -> int:
        return len(self.y) if self.y is not None else 1

    @property
    def size(self) -> int:
        return self.columns * self.rows

    def axes(self) -> tuple[Axis, ...]:
        return (self.x,) if self.y is None else (self.x, self.y)

    def cells(self, model: ModelRef, params: GenerationParams) -> list[GridCell]:
        """Every cell in row-major order (row by row, left to right)."""
        cells = []
        for y in range(self.rows):
            for x in range(self.columns):
                picks = [(self.x, x)] + ([(self.y, y)] if self.y is not None else [])
                picks.sort(key=lambda pick: pick[0].name not in MODEL_AXES)
                m, p = model, params.with_(batch_size=1)
                for axis, index in picks:
                    m, p = apply_value(axis.name, axis.values[index], m, p)
                label = " · ".join(axis.labels()[index] for axis, index in picks)
                cells.append(GridCell(x=x, y=y, model=m, params=p, label=label))
        return cells

    def problems(self) -> list[str]:
        """Why this pair of axes cannot make a grid, one sentence each."""
        found = []
        if self.y is not None and self.x.name == self.y.name:
            found.append(
                f"The X and Y axes both vary {self.x.name}: pick two different parameters."
            )
        elif self.y is not None and {self.x.name, self.y.name} == MODEL_AXES:
            found.append("The lane and model axes both choose the model: use one of them.")
        for axis in self.axes():
            found += _count_problems(axis)
        if self.size > MAX_GRID_CELLS:
            found.append(
                f"The grid has {self.size} cells ({self.columns} x {self.rows}): "
                f"keep it to at most {MAX_GRID_CELLS}."
            )
        return found


def run_order(cells: list[GridCell]) -> list[GridCell]:
    """The order the engine runs cells in: grouped by model (first appearance first), so each
    model loads once, and row-major within a model."""
    rank = _model_rank(cells)
    return sorted(cells, key=lambda cell: rank[cell.model])


def _model_rank(cells: list[GridCell]) -> dict[ModelRef, int]:
    """Each model's place in the order of its first cell."""
    first: dict[ModelRef, int] = {}
    for cell in cells:
        first.setdefault(cell.model, len(first))
    return first


def work_estimate(cell: GridCell) -> int:
    """A cell's relative cost: its steps, doubled under classifier-free guidance (two UNet
    passes a step), times its pixels. An estimate for ordering work, not a timing."""
    params = cell.params
    passes = 2 if params.guidance_scale > 1 else 1
    return params.num_inference_steps * passes * params.width * params.height


def dispatch_order(cells: list[GridCell]) -> list[GridCell]:
    """The order to hand cells to several engines at once: grouped by model like `run_order`
    (each engine then loads a model once), and longest first within a model, so the last
    cells to start are the shortest and no engine is left finishing a long one alone."""
    rank = _model_rank(cells)
    return sorted(cells, key=lambda cell: (rank[cell.model], -work_estimate(cell)))


def _count_problems(axis: Axis) -> list[str]:
    if not axis.values:
        return [f"The {axis.name} axis has no values."]
    if len(axis.values) > MAX_AXIS_VALUES:
        return [
            f"The {axis.name} axis has {len(axis.values)} values: use at most {MAX_AXIS_VALUES}."
        ]
    return []


def _value_text(name: AxisName, value: AxisValue) -> str:
    if isinstance(value, ModelRef):
        return value.display_name
    if isinstance(value, LaneChoice):
        return value.name
    if isinstance(value, float):
        return _number(value)
    return str(value)


def axis_text(axis: Axis) -> str:
    """The axis as `NAME=V1,V2` (models by name, lanes by their names), e.g. for PNG text."""
    return f"{axis.name}=" + ",".join(_value_text(axis.name, v) for v in axis.values)


# --- parsing ------------------------------------------------------------------------------------


def axis_name(text: str) -> AxisName:
    """The axis named by `text` (case, spaces and dashes do not matter; "cfg" is guidance)."""
    key = text.strip().lower().replace("-", "_").replace(" ", "_")
    if key in ALIASES:
        return ALIASES[key]
    if key in {a.value for a in PARSABLE_AXES}:
        return AxisName(key)
    names = ", ".join(a.value for a in PARSABLE_AXES)
    raise ValidationError([f"Unknown grid axis {text.strip()!r}: use one of {names}."])


def _whole(name: AxisName, text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValidationError([f"The {name} axis value {text!r} is not a whole number."]) from None
    if not low <= value <= high:
        raise ValidationError(
            [f"The {name} axis value {value} is out of range: use {low} to {high}."]
        )
    return value


def _real(name: AxisName, text: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValidationError([f"The {name} axis value {text!r} is not a number."]) from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ValidationError(
            [f"The {name} axis value {text} is out of range: use {low:g} to {high:g}."]
        )
    return value


def _sampler(text: str) -> str:
    spec = find_sampler(text)
    if spec is None:
        raise ValidationError(
            [
                f"Unknown sampler {text!r} on the sampler axis: choose one of "
                f"{', '.join(SAMPLER_NAMES)}."
            ]
        )
    return spec.name


def parse_value(
    name: AxisName, text: str, resolve_model: Callable[[str], ModelRef] = ModelRef.embedded
) -> AxisValue:
    """One axis value from its text; ValidationError with one sentence when it is bad."""
    match name:
        case AxisName.sampler:
            return _sampler(text)
        case AxisName.steps:
            return _whole(name, text, 1, MAX_STEPS)
        case AxisName.guidance:
            return _real(name, text, 0.0, MAX_GUIDANCE)
        case AxisName.eta:
            return _real(name, text, 0.0, 1.0)
        case AxisName.skip_top | AxisName.skip_bottom:
            return _real(name, text, SKIP_MIN, SKIP_MAX)
        case AxisName.model:
            return resolve_model(text)
    raise ValidationError([f"The {name} axis cannot be written as text."])


def parse_axis(text: str, resolve_model: Callable[[str], ModelRef] = ModelRef.embedded) -> Axis:
    """An axis from `NAME=V1,V2,...`; ValidationError with one sentence when it is bad."""
    name_text, sep, values_text = text.partition("=")
    if not sep:
        raise ValidationError(
            [f"Write a grid axis as NAME=V1,V2 (for example steps=4,8,16), not {text!r}."]
        )
    name = axis_name(name_text)
    parts = [part.strip() for part in values_text.split(",")]
    if not any(parts):
        raise ValidationError(
            [f"The {name} axis has no values: list them after '=', separated by commas."]
        )
    if "" in parts:
        raise ValidationError([f"The {name} axis has an empty value in {values_text!r}."])
    values = tuple(parse_value(name, part, resolve_model) for part in parts)
    seen = set()
    for part, value in zip(parts, values, strict=True):
        if value in seen:
            raise ValidationError([f"The {name} axis lists {part} twice."])
        seen.add(value)
    axis = Axis(name=name, values=values)
    found = _count_problems(axis)
    if found:
        raise ValidationError(found)
    return axis


def parse_grid(
    x: str, y: str | None = None, resolve_model: Callable[[str], ModelRef] = ModelRef.embedded
) -> GridSpec:
    """A grid from its axes' texts; ValidationError listing every problem."""
    spec = GridSpec(x=parse_axis(x, resolve_model), y=parse_axis(y, resolve_model) if y else None)
    found = spec.problems()
    if found:
        raise ValidationError(found)
    return spec
