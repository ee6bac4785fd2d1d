"""`studio distill --workers N`: refusals in one sentence, and what reaches Ray Train."""

from __future__ import annotations

import sys

import pytest

from studio.cli import build_parser


def distill_args(tmp_path, *extra: str):
    argv = ["distill", "--method", "consistency", "--steps", "1", "--quiet"]
    return build_parser().parse_args([*argv, "--run-dir", str(tmp_path / "run"), *extra])


def test_one_worker_is_the_local_run(tmp_path, monkeypatch, capsys):
    import studio.lab.distill_jobs as distill_jobs

    seen: list = []
    monkeypatch.setattr(distill_jobs, "distill", lambda *a: seen.append(a) or [tmp_path / "s"])
    monkeypatch.setitem(sys.modules, "studio.cluster.train", None)
    args = distill_args(tmp_path)
    assert args.func(args) == 0
    assert len(seen) == 1 and seen[0][1] == tmp_path / "run"
    assert "student exported to" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--workers", "3"], "pick 1, 2, 4, 8, 16 or 32 workers"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--workers", "3", "--method", "sid"], "sid distillation's batch of 32 evenly"),
        (
            ["--workers", "32", "--method", "shortcut"],
            "batch of 32 (16 and 16 rows per term) evenly: pick 1, 2, 4, 8 or 16 workers",
        ),
        (["--workers", "5", "--method", "progressive"], "pick 1, 2, 4, 8, 16 or 32 workers"),
    ],
)
def test_workers_refusals_are_one_sentence(tmp_path, capsys, extra, says):
    args = distill_args(tmp_path, *extra)
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1


def test_workers_without_ray_name_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "studio.cluster.train", None)
    args = distill_args(tmp_path, "--workers", "2")
    assert args.func(args) == 2
    assert "pip install '.[cluster]'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("method", "students"),
    [
        (["--method", "consistency"], ["emoji-student-lcm"]),
        (["--method", "sid"], ["emoji-student-sid"]),
        (["--method", "shortcut"], ["emoji-shortcut"]),
        (
            ["--method", "progressive", "--rounds", "4,2"],
            ["emoji-student-4step", "emoji-student-2step"],
        ),
    ],
)
def test_workers_run_the_distillation_on_ray_train(tmp_path, monkeypatch, capsys, method, students):
    pytest.importorskip("ray")
    import studio.cluster.train as cluster_train
    import studio.lab.distill_jobs as distill_jobs

    seen: dict = {}
    monkeypatch.setattr(distill_jobs, "distill_data", lambda run_dir, progress: None)
    monkeypatch.setattr(
        cluster_train, "train_on_ray", lambda job, path, run: seen.update(job=job, run=run)
    )
    args = distill_args(tmp_path, "--workers", "2", "--ray-address", "ray://head:10001", *method)
    assert args.func(args) == 0
    run_dir = tmp_path / "run"
    assert seen["run"] == cluster_train.RayRun(
        workers=2, address="ray://head:10001", storage=run_dir / "ray"
    )
    assert seen["job"].func is distill_jobs.distill and seen["job"].args[1] == run_dir
    assert seen["job"].args[0].method == method[1]
    printed = [line for line in capsys.readouterr().out.splitlines() if "exported" in line]
    assert printed == [f"student exported to {run_dir / 'export' / name}" for name in students]
