"""Studies spread over two engine replicas on real local Ray, equal to one local engine."""

from __future__ import annotations

import numpy as np
import pytest

from studio.cli.headless import run_job
from studio.core.convergence import ConvergenceSpec
from studio.core.events import ConvergencePointReady, GridCellFinished, JobFinished
from studio.core.grid import Axis, AxisName, GridSpec
from studio.core.jobs import ConvergeJob, GridJob, LaneSpec
from studio.worker.remote_engine import RemoteEngine
from tests.cluster.test_serve import TEACHER, follow, params

pytestmark = pytest.mark.slow
PORT = 8010


@pytest.fixture(scope="module")
def two_replicas(ray_local):
    from studio.cluster import serve_app

    url = serve_app.start(serve_app.ServeSettings(port=PORT, replicas=2))
    try:
        yield url
    finally:
        serve_app.stop()


def test_grid_cells_and_convergence_samplers_spread_over_two_replicas_equal_one_engine(
    two_replicas,
):
    from ray import serve

    from studio.cluster.serve_app import APP_NAME, ENGINE

    grid = GridJob(
        base=LaneSpec(model=TEACHER, params=params(6)),
        grid=GridSpec(x=Axis(name=AxisName.sampler, values=("DDIM", "Euler", "UniPC", "Heun"))),
    )
    converge = ConvergeJob(
        base=LaneSpec(model=TEACHER, params=params(6)),
        spec=ConvergenceSpec(samplers=("DDIM", "Euler", "UniPC"), steps=(2, 4), reference_steps=40),
    )
    engine = RemoteEngine(two_replicas)
    try:
        remote_grid = follow(engine, grid, lambda event: None)
        remote_points = follow(engine, converge, lambda event: None)
    finally:
        engine.close()
    handle = serve.get_deployment_handle(ENGINE, app_name=APP_NAME)
    pids = {handle.pid.remote().result() for _ in range(12)}
    assert len(pids) == 2
    assert isinstance(remote_grid[-1], JobFinished) and isinstance(remote_points[-1], JobFinished)
    local_grid, local_points = run_job(grid, progress=False), run_job(converge, progress=False)
    cells = {(e.x, e.y): e.image for e in remote_grid if isinstance(e, GridCellFinished)}
    assert len(cells) == len(local_grid.cells) == 4
    for cell in local_grid.cells:
        assert np.array_equal(cells[(cell.x, cell.y)], cell.image)
    points = {
        (e.point.sampler, e.point.steps): e.point.psnr
        for e in remote_points
        if isinstance(e, ConvergencePointReady)
    }
    assert points == {(p.sampler, p.steps): p.psnr for p in local_points.points}
    assert len(points) == 6
