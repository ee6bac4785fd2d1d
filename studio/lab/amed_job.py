"""`studio amed`: train and cache a model's AMED (or AMED-Plugin) predictors, one per NFE, with
progress bars."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from studio.core.models import ModelRef
from studio.engine.amed.fit import FitOptions
from studio.engine.amed.plan import MIN_NFE, Variant
from studio.engine.amed.store import AmedPredictors
from studio.engine.loading import load_pipeline
from studio.lab.analytic_job import TaskBars

MAX_NFE = 64


@dataclass(frozen=True, slots=True)
class PredictorReport:
    """One NFE's cached predictor: where it is, what its file says, and this run's seconds."""

    nfe: int
    path: Path
    info: dict[str, str]
    seconds: float


def parse_nfe(text: str) -> list[int]:
    """`"3,4,5"` as [3, 4, 5]; ValueError naming the bad entry."""
    values = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or not MIN_NFE <= int(part) <= MAX_NFE:
            raise ValueError(
                f"--nfe takes whole numbers from {MIN_NFE} to {MAX_NFE}, not {part!r}."
            )
        values.append(int(part))
    return sorted(set(values))


def train_predictors(
    ref: ModelRef,
    nfes: Sequence[int],
    options: FitOptions,
    *,
    force: bool = False,
    device: str = "auto",
    progress: bool = True,
    variant: Variant = Variant.solver,
) -> list[PredictorReport]:
    """Load the model, then read or train each NFE's predictor of `variant`."""
    loaded = load_pipeline(ref, device=device)
    predictors = AmedPredictors(options=options)
    reports = []
    for nfe in nfes:
        bars = TaskBars(progress)
        started = time.perf_counter()
        try:
            stored = predictors.stored_for(loaded, nfe, bars, force=force, variant=variant)
        finally:
            bars.close()
        seconds = time.perf_counter() - started
        path = predictors.path_for(loaded, nfe, variant)
        reports.append(PredictorReport(nfe, path, stored.info, seconds))
    return reports


def summary(reports: Sequence[PredictorReport]) -> str:
    """One line per NFE: the solver's distance to the reference before and after training."""
    lines = ["NFE  MSE to reference: midpoint -> trained   mean r per step   mean c per step"]
    for r in reports:
        i = r.info
        grid = (
            f"grid power {i['grid_power']} of {i.get('grid_losses', '?')}, "
            if "grid_power" in i
            else ""
        )
        lines.append(
            f"{r.nfe:>3}  {i.get('loss_before', '?'):>10} -> {i.get('loss_after', '?'):<10}  "
            f"{i.get('mean_r', '?'):<16}  {i.get('mean_c', '?')}  "
            f"({grid}{r.seconds:.0f} s, {r.path})"
        )
    return "\n".join(lines)
