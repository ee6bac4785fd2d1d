"""Consistency distillation on Ray Train: two DDP workers take the step one process takes on the
same global batch, and a run whose worker is killed resumes from its last checkpoint."""

from __future__ import annotations

import os
import signal
from functools import partial
from pathlib import Path

import pytest
import torch

from studio.lab.consistency import ConsistencyConfig, ConsistencyRun
from studio.lab.data_parallel import ONE_PROCESS, DataParallel
from tests.lab.test_distill import TinyData, tiny_unet


def config(steps: int) -> ConsistencyConfig:
    return ConsistencyConfig(
        steps=steps, batch_size=4, checkpoint_every=1, warmup=1, grad_clip=1e9, bf16=False
    )


def consistency_job(run_dir: Path, steps: int, parallel: DataParallel) -> None:
    run = ConsistencyRun(run_dir, TinyData(), tiny_unet(), config(steps), parallel)
    if parallel.writes:
        with (run_dir / "starts.txt").open("a") as handle:
            handle.write(f"{run.step}\n")
    run.run(progress=False)


class KilledOnce(DataParallel):
    """A worker's part that kills the process of rank 1 once, when it averages step `at`'s loss
    (a marker file says it happened), after deleting the run's own checkpoint file: the run can
    resume only from Ray Train's checkpoint."""

    def __init__(self, inner: DataParallel, at: int, marker: Path) -> None:
        self.inner, self.at, self.marker, self.calls = inner, at, marker, 0
        self.rank, self.count = inner.rank, inner.count

    @property
    def device(self) -> torch.device:
        return self.inner.device

    def wrap(self, module):
        return self.inner.wrap(module)

    def mean(self, value: float) -> float:
        self.calls += 1
        if self.rank == 1 and self.calls == self.at and not self.marker.exists():
            self.marker.touch()
            (self.marker.parent / "checkpoint.pt").unlink()
            os.kill(os.getpid(), signal.SIGKILL)
        return self.inner.mean(value)

    def checkpointed(self, path: Path, step: int) -> None:
        self.inner.checkpointed(path, step)


def killed_job(run_dir: Path, steps: int, at: int, parallel: DataParallel) -> None:
    consistency_job(run_dir, steps, KilledOnce(parallel, at, run_dir / "killed"))


def local_state(tmp_path: Path, steps: int) -> dict:
    ConsistencyRun(tmp_path / "local", TinyData(), tiny_unet(), config(steps)).run(progress=False)
    return torch.load(tmp_path / "local" / "checkpoint.pt", weights_only=True)


def assert_same_training(got: dict, want: dict) -> None:
    assert got["counters"] == want["counters"]
    assert_same_weights(got, want, ("student", "target"))


def assert_same_weights(got: dict, want: dict, names: tuple[str, ...]) -> None:
    """The named modules' weights and Adam's moments equal within float tolerance."""
    for name in names:
        for key, value in want[name].items():
            torch.testing.assert_close(got[name][key], value, atol=1e-6, rtol=1e-5, msg=key)
    for index, moments in want["opt"]["state"].items():
        for key in ("exp_avg", "exp_avg_sq"):
            scale = float(moments[key].abs().max())
            torch.testing.assert_close(
                got["opt"]["state"][index][key], moments[key], atol=1e-5 * scale, rtol=1e-4
            )


def test_two_ddp_workers_take_the_step_of_one_process_on_the_global_batch(ray_local, tmp_path):
    from studio.cluster.train import RayRun, train_on_ray

    run_dir = tmp_path / "ddp"
    job = partial(consistency_job, run_dir, 2)
    result = train_on_ray(job, run_dir / "checkpoint.pt", RayRun(workers=2, storage=tmp_path))
    assert result.checkpoint is not None
    got = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert_same_training(got, local_state(tmp_path, 2))
    assert (run_dir / "starts.txt").read_text() == "0\n"


@pytest.mark.slow
def test_a_killed_worker_resumes_the_run_from_its_last_checkpoint(ray_local, tmp_path):
    from studio.cluster.train import RayRun, train_on_ray

    run_dir = tmp_path / "ddp"
    job = partial(killed_job, run_dir, 4, 3)
    run = RayRun(workers=2, storage=tmp_path, max_failures=1)
    train_on_ray(job, run_dir / "checkpoint.pt", run)
    assert (run_dir / "killed").exists()
    starts = [int(n) for n in (run_dir / "starts.txt").read_text().split()]
    assert starts[0] == 0 and len(starts) == 2 and 1 <= starts[1] <= 2
    got = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert_same_training(got, local_state(tmp_path, 4))


def teacher_config(steps: int):
    from studio.lab.train_teacher import TeacherConfig

    return TeacherConfig(
        steps=steps, batch_size=4, warmup=1, grad_clip=1e9, checkpoint_every=1, bf16=False
    )


def teacher_job(run_dir: Path, steps: int, parallel: DataParallel = ONE_PROCESS) -> None:
    """A teacher run on the tiny data, with the tiny UNet in place of the emoji one."""
    from unittest import mock

    from studio.lab import train_teacher

    with mock.patch.object(train_teacher, "build_unet", tiny_unet):
        run = train_teacher.TeacherRun(run_dir, TinyData(), teacher_config(steps), None, parallel)
        run.run(steps, progress=False)


@pytest.mark.slow
def test_two_ddp_workers_train_the_teacher_as_one_process_does(ray_local, tmp_path):
    from studio.cluster.train import RayRun, train_on_ray

    run_dir = tmp_path / "ddp-teacher"
    train_on_ray(
        partial(teacher_job, run_dir, 2),
        run_dir / "checkpoint.pt",
        RayRun(workers=2, storage=tmp_path),
    )
    teacher_job(tmp_path / "local-teacher", 2)
    got = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    want = torch.load(tmp_path / "local-teacher" / "checkpoint.pt", weights_only=True)
    assert got["step"] == want["step"] == 2
    assert_same_weights(got, want, ("unet", "ema"))
