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
