"""Distillation on Ray Train: a TorchTrainer whose N workers each train their share of the same
global batch under DDP (gloo on CPU, NCCL on GPU), checkpointed through Ray Train."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
import ray.train
import torch
import torch.distributed as dist
from ray.train import (
    Checkpoint,
    CheckpointConfig,
    FailureConfig,
    RunConfig,
    ScalingConfig,
    TrainingFailedError,
)
from ray.train.torch import TorchConfig, TorchTrainer, get_device
from torch.nn.parallel import DistributedDataParallel

from studio.lab.data_parallel import DataParallel

CHECKPOINT = "checkpoint.pt"
KEPT_CHECKPOINTS = 2
Job = Callable[[DataParallel], Any]


class RayRunFailed(RuntimeError):
    """A data-parallel run that failed on its workers more often than it may restart."""


class RayWorker(DataParallel):
    """One Ray Train worker's part in a DDP run: its rank and device, the trained module wrapped
    in DDP, losses averaged over the workers, and each saved checkpoint reported to Ray Train."""

    def __init__(self) -> None:
        context = ray.train.get_context()
        self.rank = context.get_world_rank()
        self.count = context.get_world_size()

    @property
    def device(self) -> torch.device:
        return get_device()

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        ids = [self.device] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)

    def mean(self, value: float) -> float:
        total = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(total)
        return float(total.item()) / self.count

    def checkpointed(self, path: Path, step: int, keep: tuple[Path, ...] = ()) -> None:
        if not self.writes:
            ray.train.report({"step": step})
            return
        with tempfile.TemporaryDirectory(prefix="studio-checkpoint-") as folder:
            shutil.copy2(path, Path(folder) / CHECKPOINT)
            for extra in keep:
                shutil.copy2(extra, Path(folder) / extra.name)
            ray.train.report({"step": step}, checkpoint=Checkpoint.from_directory(folder))


def restore_checkpoint(state_path: Path) -> bool:
    """Put Ray Train's latest checkpoint of this run at `state_path`, and the files kept with it
    beside it (each atomically), so that the run resumes from it; False when Ray Train has none
    (a first attempt)."""
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return False
    state_path.parent.mkdir(parents=True, exist_ok=True)
    with checkpoint.as_directory() as folder:
        for saved in sorted(Path(folder).iterdir()):
            if saved.is_file() and not saved.name.startswith("."):
                name = state_path.name if saved.name == CHECKPOINT else saved.name
                _copy_atomically(saved, state_path.parent / name)
    return True


def _copy_atomically(source: Path, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
    os.close(fd)
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def _worker_loop(config: dict[str, Any]) -> None:
    restore_checkpoint(config["state_path"])
    config["job"](RayWorker())


@dataclass(frozen=True, slots=True, kw_only=True)
class RayRun:
    """Where and how a data-parallel run trains: workers, the Ray cluster to join (None: a local
    one), the restarts allowed after a worker fails, and the folder Ray Train keeps its
    checkpoints in."""

    workers: int
    address: str | None = None
    max_failures: int = 3
    storage: Path


def train_on_ray(job: Job, state_path: Path, run: RayRun) -> ray.train.Result:
    """Run `job` on `run.workers` Ray Train workers (each called with its RayWorker) until it
    returns on all of them; `state_path` is the run's checkpoint file, restored from Ray Train's
    latest checkpoint whenever the workers (re)start."""
    if not ray.is_initialized():
        ray.init(address=run.address or "local", configure_logging=False)
    use_gpu = ray.cluster_resources().get("GPU", 0) >= run.workers
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={"job": job, "state_path": state_path},
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        scaling_config=ScalingConfig(num_workers=run.workers, use_gpu=use_gpu),
        run_config=RunConfig(
            name=state_path.parent.name,
            storage_path=str(run.storage.resolve()),
            failure_config=FailureConfig(max_failures=run.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=KEPT_CHECKPOINTS),
        ),
    )
    try:
        return trainer.fit()
    except TrainingFailedError as exc:
        raise RayRunFailed(
            f"the run failed on its workers after {run.max_failures} restarts "
            f"(its last checkpoint is kept in {run.storage}): {exc}"
        ) from exc
