"""`studio analytic`: estimate and cache the Gamma table of a model for analytic variance."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from studio.core.models import ModelRef
from studio.engine.analytic.estimate import EstimateOptions
from studio.engine.analytic.tables import GammaTables
from studio.engine.analytic.variance import GammaTable
from studio.engine.loading import load_pipeline

SUMMARY_ROWS = 8


class TaskBars:
    """One tqdm bar per task of a table estimate, driven by the GammaTables progress hook."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bars: dict[str, tqdm] = {}

    def __call__(self, task: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        bar = self.bars.get(task)
        if bar is None:
            bar = self.bars[task] = tqdm(total=total, desc=task, unit="batch")
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


@dataclass(frozen=True, slots=True)
class TableReport:
    """Where a model's table is cached, the table, and the seconds this run spent on it."""

    path: Path
    table: GammaTable
    seconds: float


def estimate_table(
    ref: ModelRef,
    options: EstimateOptions,
    *,
    force: bool = False,
    device: str = "auto",
    progress: bool = True,
) -> TableReport:
    """Load the model, then read its cached table or estimate and cache it."""
    loaded = load_pipeline(ref, device=device)
    tables = GammaTables(options=options)
    bars = TaskBars(progress)
    started = time.perf_counter()
    try:
        table = tables.table_for(loaded, bars, force=force)
    finally:
        bars.close()
    return TableReport(tables.path_for(loaded), table, time.perf_counter() - started)


def summary(report: TableReport) -> str:
    """A few rows of the table and where it came from, for the terminal."""
    table = report.table
    lines = [
        f"Gamma table: {report.path} ({report.seconds:.1f} s)",
        f"data: {table.source}, {table.samples} samples, {len(table.timesteps)} timesteps, "
        f"per-dimension data variance {table.data_var:.4f}",
        "timestep  alpha_bar   Gamma     Var(x0 | x_t)",
    ]
    variance = table.grid_x0_variance()
    picks = np.unique(np.linspace(0, len(table.timesteps) - 1, SUMMARY_ROWS).round().astype(int))
    for i in picks:
        lines.append(
            f"{table.timesteps[i]:>8}  {table.alphas_cumprod[i]:.6f}  "
            f"{table.gamma[i]:.5f}  {variance[i]:.5f}"
        )
    return "\n".join(lines)
