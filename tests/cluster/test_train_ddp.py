"""Distillation on Ray Train: for every method, two DDP workers take the steps one process takes
on the same global batch, and a run whose worker is killed resumes from its last checkpoint."""

from __future__ import annotations

import os
import signal
from functools import partial
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from studio.lab.consistency import ConsistencyConfig, ConsistencyRun
from studio.lab.data_parallel import ONE_PROCESS, DataParallel
from studio.lab.progressive import ProgressiveConfig, ProgressiveRun
from studio.lab.shortcut import ShortcutRun
from tests.lab.test_distill import TinyData, tiny_unet
from tests.lab.test_shortcut import tiny_cfg as shortcut_config
from tests.lab.test_sid import make_run as sid_run


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
    (a marker file says it happened), after deleting the run's own checkpoint file (and the other
    files named in `forget`): the run can resume only from Ray Train's checkpoint."""

    def __init__(
        self, inner: DataParallel, at: int, marker: Path, forget: tuple[str, ...] = ()
    ) -> None:
        self.inner, self.at, self.marker, self.calls = inner, at, marker, 0
        self.rank, self.count = inner.rank, inner.count
        self.forget = ("checkpoint.pt", *forget)

    @property
    def device(self) -> torch.device:
        return self.inner.device

    def wrap(self, module):
        return self.inner.wrap(module)

    def mean(self, value: float) -> float:
        self.calls += 1
        if self.rank == 1 and self.calls == self.at and not self.marker.exists():
            self.marker.touch()
            for name in self.forget:
                (self.marker.parent / name).unlink()
            os.kill(os.getpid(), signal.SIGKILL)
        return self.inner.mean(value)

    def checkpointed(self, path: Path, step: int, keep: tuple[Path, ...] = ()) -> None:
        self.inner.checkpointed(path, step, keep)


def killed_job(run_dir: Path, steps: int, at: int, parallel: DataParallel) -> None:
    consistency_job(run_dir, steps, KilledOnce(parallel, at, run_dir / "killed"))


def local_state(tmp_path: Path, steps: int) -> dict:
    ConsistencyRun(tmp_path / "local", TinyData(), tiny_unet(), config(steps)).run(progress=False)
    return torch.load(tmp_path / "local" / "checkpoint.pt", weights_only=True)


def assert_same_training(
    got: dict,
    want: dict,
    names: tuple[str, ...] = ("student", "target"),
    opts: tuple[str, ...] = ("opt",),
) -> None:
    assert got["counters"] == want["counters"]
    assert_same_weights(got, want, names, opts)


def assert_same_weights(
    got: dict,
    want: dict,
    names: tuple[str, ...],
    opts: tuple[str, ...] = ("opt",),
    lr: float = 1e-4,
) -> None:
    """The named modules' weights and the named Adam optimisers' moments equal within float
    tolerance: DDP sums the workers' gradients in another order than one process's batch mean,
    and Adam's update of a weight whose gradient is near zero magnifies that rounding into a
    share of the learning rate `lr` (seen on an AMD EPYC: 3% of it on one weight, and 1.2e-5 of
    a moment's scale). A wrong split of the batch moves most weights by about `lr` in one step
    and the moments by far more than their tolerance."""
    for name in names:
        assert_close_weights(got[name], want[name], atol=lr / 10)
    for opt in opts:
        for index, moments in want[opt]["state"].items():
            for key in ("exp_avg", "exp_avg_sq"):
                scale = float(moments[key].abs().max())
                torch.testing.assert_close(
                    got[opt]["state"][index][key], moments[key], atol=1e-4 * scale, rtol=1e-4
                )


def assert_close_weights(got: dict, want: dict, atol: float) -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        torch.testing.assert_close(
            got[key], value, atol=atol, rtol=1e-5, msg=lambda message, key=key: f"{key}: {message}"
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
    assert_same_weights(got, want, ("unet", "ema"), lr=teacher_config(2).lr)


# Adam scales each weight's first updates to about the learning rate whatever its gradient's
# size, so a gradient near zero turns the float rounding of the workers' sum into a difference of
# up to the learning rate: the runs below take small ones (the moments compare the gradients).


def sid_job(run_dir: Path, parallel: DataParallel) -> None:
    run = sid_run(run_dir, parallel, batch_size=4, generator_lr=1e-5, fake_lr=1e-5)
    run.run(progress=False)


def shortcut_job(run_dir: Path, parallel: DataParallel) -> None:
    """A shortcut run; each worker also keeps its own model and EMA, to compare the ranks'."""
    cfg = shortcut_config(lr=1e-5, grad_clip=1e9)
    run = ShortcutRun(run_dir, TinyData(), tiny_unet(), cfg, parallel)
    run.run(progress=False)
    mine = {"model": run.model.state_dict(), "ema": run.ema.state_dict()}
    torch.save(mine, run_dir / f"rank-{parallel.rank}.pt")


def progressive_job(run_dir: Path, parallel: DataParallel) -> None:
    cfg = ProgressiveConfig(
        rounds=(2, 1),
        steps_per_round=2,
        batch_size=4,
        checkpoint_every=1,
        warmup=1,
        grad_clip=1e9,
        bf16=False,
    )
    ProgressiveRun(run_dir, TinyData(), tiny_unet(), cfg, parallel).run(progress=False)


METHODS = {
    "sid": (sid_job, ("generator", "generator_ema", "fake"), ("g_opt", "f_opt")),
    "shortcut": (shortcut_job, ("model", "ema"), ("opt",)),
    "progressive": (progressive_job, ("student",), ("opt",)),
}


def every_method_job(root: Path, parallel: DataParallel) -> None:
    for method, (job, _, _) in METHODS.items():
        job(root / method, parallel)


@pytest.fixture(scope="module")
def ddp_runs(ray_local, tmp_path_factory) -> Path:
    """SiD, shortcut and progressive runs trained by two DDP workers (one Ray Train run: its
    start is most of a test's time)."""
    from studio.cluster.train import RayRun, train_on_ray

    root = tmp_path_factory.mktemp("ddp-methods")
    run = RayRun(workers=2, storage=root / "ray")
    train_on_ray(partial(every_method_job, root), root / "checkpoint.pt", run)
    return root


@pytest.mark.slow  # one Ray Train run of three methods: 100-160 s
@pytest.mark.parametrize("method", list(METHODS))
def test_two_ddp_workers_train_each_method_as_one_process_does(ddp_runs, tmp_path, method):
    job, names, opts = METHODS[method]
    job(tmp_path, ONE_PROCESS)
    got = torch.load(ddp_runs / method / "checkpoint.pt", weights_only=True)
    want = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert_same_training(got, want, names, opts)


@pytest.mark.slow  # one Ray Train run of three methods: 100-160 s
def test_the_shortcut_workers_keep_one_model_and_one_ema(ddp_runs):
    ranks = [torch.load(ddp_runs / "shortcut" / f"rank-{r}.pt", weights_only=True) for r in (0, 1)]
    for name in ("model", "ema"):
        first, second = (rank[name] for rank in ranks)
        assert all(torch.equal(first[key], second[key]) for key in first), name


def killed_progressive_job(run_dir: Path, parallel: DataParallel) -> None:
    """Killed in the second round, after deleting the first round's student (its teacher)."""
    forget = ("student-2step.safetensors",)
    progressive_job(run_dir, KilledOnce(parallel, 3, run_dir / "killed", forget))


@pytest.mark.slow
def test_a_killed_progressive_worker_resumes_its_round_with_the_rounds_teacher(ray_local, tmp_path):
    from studio.cluster.train import RayRun, train_on_ray

    run_dir = tmp_path / "ddp"
    run = RayRun(workers=2, storage=tmp_path / "ray", max_failures=1)
    train_on_ray(partial(killed_progressive_job, run_dir), run_dir / "checkpoint.pt", run)
    assert (run_dir / "killed").exists()
    progressive_job(tmp_path / "local", ONE_PROCESS)
    got = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    want = torch.load(tmp_path / "local" / "checkpoint.pt", weights_only=True)
    assert_same_training(got, want, ("student",))
    for steps in (2, 1):
        name = f"student-{steps}step.safetensors"
        assert_close_weights(load_file(run_dir / name), load_file(tmp_path / "local" / name), 1e-5)


@pytest.mark.slow  # one Ray Train run of three methods: 100-160 s
def test_the_progressive_workers_write_each_rounds_student_as_one_process_does(ddp_runs, tmp_path):
    progressive_job(tmp_path, ONE_PROCESS)
    for steps in (2, 1):
        name = f"student-{steps}step.safetensors"
        got, want = load_file(ddp_runs / "progressive" / name), load_file(tmp_path / name)
        assert_close_weights(got, want, 1e-5)
