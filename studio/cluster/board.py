"""The cancel board: how a cancel request reaches the replica that runs the job."""

from __future__ import annotations

import asyncio

import ray

BOARD_NAME = "studio-cancel-board"
NAMESPACE = "studio"


@ray.remote(num_cpus=0)
class CancelBoard:
    """Carries cancel requests to the replicas running the jobs: the ingress cannot address one
    Serve replica, so it posts here, and each replica waits here for its running job's request
    (one long call per job, answered when a cancel comes or the job ends; no polling)."""

    def __init__(self) -> None:
        self._wanted: dict[str, bool] = {}
        self._waiting: dict[str, asyncio.Event] = {}

    async def cancel(self, job_id: str, keep_partial: bool) -> None:
        self._wanted[job_id] = self._wanted.get(job_id, False) or keep_partial
        self._event(job_id).set()

    async def wait(self, job_id: str) -> bool | None:
        """Whether the job was asked to stop keeping its partial images, once it is asked;
        None when the job ended first (`forget`)."""
        await self._event(job_id).wait()
        self._waiting.pop(job_id, None)
        return self._wanted.pop(job_id, None)

    async def forget(self, job_id: str) -> None:
        self._wanted.pop(job_id, None)
        waiting = self._waiting.pop(job_id, None)
        if waiting is not None:
            waiting.set()

    def _event(self, job_id: str) -> asyncio.Event:
        return self._waiting.setdefault(job_id, asyncio.Event())


def board_handle(create: bool = False) -> ray.actor.ActorHandle:
    """The cluster's one board, started detached (it outlives a replica) when `create`."""
    if create:
        return CancelBoard.options(  # type: ignore[attr-defined]
            name=BOARD_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
        ).remote()
    return ray.get_actor(BOARD_NAME, namespace=NAMESPACE)
