"""The cancel board: how a cancel request reaches the replica that runs the job."""

from __future__ import annotations

import ray

BOARD_NAME = "studio-cancel-board"
NAMESPACE = "studio"


@ray.remote(num_cpus=0)
class CancelBoard:
    """Holds the cancel requests of running jobs until their replicas take them: the ingress
    cannot address one Serve replica, so it posts here and every replica polls for its jobs."""

    def __init__(self) -> None:
        self._wanted: dict[str, bool] = {}

    def cancel(self, job_id: str, keep_partial: bool) -> None:
        self._wanted[job_id] = self._wanted.get(job_id, False) or keep_partial

    def take(self, job_id: str) -> bool | None:
        """Whether the job was asked to stop keeping its partial images; None: not asked."""
        return self._wanted.pop(job_id, None)

    def forget(self, job_id: str) -> None:
        self._wanted.pop(job_id, None)


def board_handle(create: bool = False) -> ray.actor.ActorHandle:
    """The cluster's one board, started detached (it outlives a replica) when `create`."""
    if create:
        return CancelBoard.options(  # type: ignore[attr-defined]
            name=BOARD_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
        ).remote()
    return ray.get_actor(BOARD_NAME, namespace=NAMESPACE)
