"""Many independent jobs on a served engine at once, for headless batches such as `studio eval`."""

from __future__ import annotations

import asyncio
import http.client
import json

import numpy as np

from studio.core.commands import Submit
from studio.core.events import JobCancelled, JobFailed, JobFinished, LaneFinished
from studio.core.jobs import GenerateJob
from studio.core.remote_api import HEALTH, EngineAddress
from studio.worker.remote_engine import RemoteEngine


def replica_count(url: str, timeout_s: float = 10.0) -> int:
    """How many jobs the engine at `url` runs at once: its replicas (the upper bound of an
    autoscaling range); 1 when it does not say."""
    address = EngineAddress.parse(url)
    connection = http.client.HTTPConnection(address.host, address.port, timeout=timeout_s)
    try:
        connection.request("GET", address.prefix + HEALTH)
        document = json.loads(connection.getresponse().read(64 * 1024))
    except (OSError, ValueError, http.client.HTTPException):
        return 1
    finally:
        connection.close()
    words = str(document.get("replicas", "1")) if isinstance(document, dict) else "1"
    last = words.rsplit("-", 1)[-1]
    return int(last) if last.isdigit() and int(last) > 0 else 1


class RemoteBatch:
    """Runs a list of one-lane jobs on a served engine, as many at once as it has replicas, and
    returns their images in the order of the jobs; the first failure ends the batch with its
    sentence (RuntimeError)."""

    def __init__(self, url: str, token: str = "", parallel: int = 0) -> None:
        self.url, self.token = url, token
        self.parallel = parallel or replica_count(url)

    def run_all(self, jobs: list[GenerateJob]) -> list[np.ndarray]:
        engine = RemoteEngine(self.url, self.token, parallel=self.parallel)
        try:
            return asyncio.run(self._collect(engine, jobs))
        finally:
            engine.close()

    async def _collect(self, engine: RemoteEngine, jobs: list[GenerateJob]) -> list[np.ndarray]:
        images: dict[str, list[np.ndarray]] = {}
        waiting = {job.job_id for job in jobs}
        for job in jobs:
            engine.send(Submit(job=job))
        async for event in engine.listen():
            if isinstance(event, LaneFinished) and event.job_id in waiting:
                images.setdefault(event.job_id, []).extend(event.images)
            elif isinstance(event, JobFailed | JobCancelled) and event.job_id in waiting:
                why = event.message if isinstance(event, JobFailed) else "it was cancelled"
                raise RuntimeError(f"A job of the batch did not finish: {why}")
            elif isinstance(event, JobFailed) and not event.job_id and not engine.alive:
                raise RuntimeError(event.message)
            elif isinstance(event, JobFinished):
                waiting.discard(event.job_id)
                if not waiting:
                    break
        return [image for job in jobs for image in images.get(job.job_id, [])]
