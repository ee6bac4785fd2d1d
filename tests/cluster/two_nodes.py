"""A served engine across two Ray nodes (`ray.cluster_utils.Cluster`, one CPU each), run as a
script by tests/cluster/test_two_nodes.py: one replica per node, a grid spread over both, its
images compared with one local engine's. Prints one JSON line with what it saw."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import numpy as np


def main() -> int:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    from ray import serve
    from ray.cluster_utils import Cluster

    from studio.cli.headless import run_job
    from studio.cluster import serve_app
    from studio.core.commands import Submit
    from studio.core.events import FINAL_EVENTS, GridCellFinished, JobFinished
    from studio.core.grid import Axis, AxisName, GridSpec
    from studio.core.jobs import GridJob, LaneSpec
    from studio.core.models import ModelRef
    from studio.core.params import GenerationParams
    from studio.worker.remote_engine import RemoteEngine

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, configure_logging=False, log_to_driver=False)
    cluster.wait_for_nodes()
    try:
        url = serve_app.start(serve_app.ServeSettings(port=8020, replicas=2))
        params = GenerationParams(
            prompt="a red heart", num_inference_steps=6, guidance_scale=3.0, seed=5, width=32,
            height=32,
        )  # fmt: skip
        job = GridJob(
            base=LaneSpec(model=ModelRef.embedded("emoji-teacher"), params=params),
            grid=GridSpec(x=Axis(name=AxisName.sampler, values=("DDIM", "Euler", "UniPC", "Heun"))),
        )
        engine = RemoteEngine(url)

        async def follow() -> list:
            seen = []
            engine.send(Submit(job=job))
            async for event in engine.listen():
                seen.append(event)
                if isinstance(event, FINAL_EVENTS) and event.job_id == job.job_id:
                    return seen
            return seen

        try:
            remote = asyncio.run(asyncio.wait_for(follow(), 300))
        finally:
            engine.close()
        handle = serve.get_deployment_handle(serve_app.ENGINE, app_name=serve_app.APP_NAME)
        nodes = {handle.node.remote().result() for _ in range(16)}
        local = run_job(job, progress=False)
        cells = {(e.x, e.y): e.image for e in remote if isinstance(e, GridCellFinished)}
        same = all(np.array_equal(cells[(c.x, c.y)], c.image) for c in local.cells)
        print(
            json.dumps(
                {
                    "finished": isinstance(remote[-1], JobFinished),
                    "cells": len(cells),
                    "equal": same,
                    "nodes": len(nodes),
                    "cluster_nodes": len([n for n in ray.nodes() if n["Alive"]]),
                }
            ),
            flush=True,
        )
        serve_app.stop()
    finally:
        ray.shutdown()
        cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
