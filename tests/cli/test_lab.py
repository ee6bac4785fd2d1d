"""The lab's commands refuse plainly what they cannot do (the jobs are tested in tests/lab)."""

from __future__ import annotations

from studio.cli.lab import cmd_sheet


def test_sheet_command_refuses_when_nothing_is_installed(tmp_path, capsys):
    class Args:
        models = "no-such-model"
        count = 2
        out = tmp_path / "x.png"

    assert cmd_sheet(Args()) == 2
    assert "no-such-model" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def train_args(tmp_path, init_from):
    from studio.cli import build_parser

    return build_parser().parse_args(
        ["train", "--steps", "1", "--quiet", "--run-dir", str(tmp_path / "run")]
        + (["--init-from", str(init_from)] if init_from is not None else [])
    )


def test_train_hands_init_from_to_the_training(tmp_path, monkeypatch, capsys):
    import studio.lab.emoji_build as emoji_build
    import studio.lab.train_teacher as train_teacher

    seen: dict = {}
    monkeypatch.setattr(emoji_build, "build_dataset", lambda progress: tmp_path / "data")
    monkeypatch.setattr(train_teacher, "train_teacher", lambda *a, **kw: seen.update(kw) or None)
    exported = tmp_path / "exported"
    (exported / "unet").mkdir(parents=True)
    args = train_args(tmp_path, exported)
    assert args.func(args) == 0
    assert seen["init_from"] == exported


def test_train_refuses_an_init_from_that_is_no_teacher_export(tmp_path, capsys):
    args = train_args(tmp_path, tmp_path / "missing")
    assert args.func(args) == 2
    assert "not an exported teacher folder" in capsys.readouterr().out


def evaluations(monkeypatch, correct: tuple[bool, ...]) -> dict:
    """`studio eval` answering one report with these verdicts; what it was asked, filled in."""
    import studio.lab.eval_job as eval_job
    from studio.lab.evaluate import EvalReport

    seen: dict = {}
    report = EvalReport(
        model="emoji-teacher",
        recipe="r",
        images=len(correct),
        subgroup_accuracy=sum(correct) / len(correct),
        frechet_distance=1.0,
        seconds_per_image=0.1,
        correct=correct,
    )
    monkeypatch.setattr(
        eval_job, "evaluate_models", lambda names, **kw: seen.update(kw) or ([report], "table")
    )
    return seen


def test_eval_passes_the_noises_on_and_writes_each_images_verdict(tmp_path, monkeypatch, capsys):
    import json

    from studio.cli import build_parser

    seen = evaluations(monkeypatch, (True, False, False, True))
    out = tmp_path / "eval.json"
    args = build_parser().parse_args(["eval", "--noises", "2", "--json", str(out)])
    assert args.func(args) == 0
    assert seen["noises"] == 2
    (row,) = json.loads(out.read_text())
    assert row["correct"] == "1001" and row["subgroup_accuracy"] == 0.5
    args = build_parser().parse_args(["eval", "--noises", "0"])
    monkeypatch.undo()
    assert args.func(args) != 0
    assert "at least one starting noise" in capsys.readouterr().err


def test_eval_pairs_with_a_row_of_a_saved_file_or_says_why_not(tmp_path, monkeypatch, capsys):
    import json

    from studio.cli import build_parser

    seen = evaluations(monkeypatch, (True, True))
    saved = tmp_path / "teacher.json"
    teacher = {"model": "emoji-teacher", "recipe": "DPM++ 2M", "subgroup_accuracy": 0.5}
    saved.write_text(
        json.dumps([{**teacher, "frechet_distance": 2.0, "seconds_per_image": 1, "correct": "10"}])
    )
    out = tmp_path / "eval.json"
    args = build_parser().parse_args(["eval", "--pair-with", str(saved), "--json", str(out)])
    assert args.func(args) == 0
    assert seen["paired_with"].correct == (True, False)
    assert seen["paired_with"].model == "emoji-teacher"
    (row,) = json.loads(out.read_text())
    assert row["paired_with"] == "teacher.json, row 0"
    args = build_parser().parse_args(["eval", "--pair-with", str(saved), "--pair-row", "3"])
    assert args.func(args) != 0
    assert "has no row 3" in capsys.readouterr().err
