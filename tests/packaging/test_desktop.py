"""Linux desktop integration: the shipped files validate, and install/uninstall into XDG folders."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from studio import __version__, desktop
from studio.cli import main
from studio.core.paths import desktop_dir
from studio.desktop import APP_ID, DESKTOP_FILES

ENTRY = desktop_dir() / f"{APP_ID}.desktop"
METAINFO = desktop_dir() / f"{APP_ID}.metainfo.xml"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (Debian: desktop-file-utils / appstream)")
    return found


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_the_shipped_desktop_entry_validates() -> None:
    result = _run(_tool("desktop-file-validate"), str(ENTRY))
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_the_installed_desktop_entry_validates(tmp_path: Path) -> None:
    command = [str(tmp_path / "my apps" / "studio"), "--flag=100%"]
    (written,) = [p for p in desktop.install(tmp_path, command) if p.suffix == ".desktop"]
    result = _run(_tool("desktop-file-validate"), str(written))
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_the_metainfo_validates_offline() -> None:
    result = _run(_tool("appstreamcli"), "validate", "--no-net", str(METAINFO))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_metainfo_names_the_app_id_and_this_version() -> None:
    root = ET.parse(METAINFO).getroot()
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == f"{APP_ID}.desktop"
    assert root.find("releases/release").get("version") == __version__


def test_the_icons_are_an_svg_and_a_256_px_png() -> None:
    svg = ET.parse(desktop_dir() / "icons" / f"{APP_ID}.svg").getroot()
    assert svg.tag.endswith("svg") and svg.get("viewBox") == "0 0 256 256"
    png = desktop.icon_path().read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert int.from_bytes(png[16:20], "big") == int.from_bytes(png[20:24], "big") == 256


def test_install_puts_every_file_under_the_xdg_data_home_and_uninstall_removes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    unrelated = home / "applications" / "other.desktop"
    unrelated.parent.mkdir(parents=True)
    unrelated.write_text("[Desktop Entry]\n")
    assert main(["install-desktop"]) == 0
    for item in DESKTOP_FILES:
        target = home / item.target
        assert target.is_file(), item.target
        if target.suffix != ".desktop":
            assert target.read_bytes() == (desktop_dir() / item.source).read_bytes()
    assert not [p for p in home.rglob(".*.tmp")]
    entry = (home / f"applications/{APP_ID}.desktop").read_text()
    assert f"Exec={desktop.exec_argument(desktop.launch_command()[0])}" in entry
    assert "installed" in capsys.readouterr().out
    assert main(["uninstall-desktop"]) == 0
    assert not [p for p in home.rglob("*") if p.is_file() and p != unrelated]
    assert unrelated.is_file()
    assert main(["uninstall-desktop"]) == 0
    assert "no desktop files" in capsys.readouterr().out


def test_install_rewrites_exec_and_try_exec_only() -> None:
    template = ENTRY.read_text()
    text = desktop.desktop_entry(template, ["/opt/studio/studio"])
    assert "Exec=/opt/studio/studio\n" in text and "TryExec=/opt/studio/studio\n" in text
    unchanged = [line for line in template.splitlines() if not line.startswith(("Exec", "TryE"))]
    assert [line for line in text.splitlines() if not line.startswith(("Exec", "TryE"))] == (
        unchanged
    )


@pytest.mark.parametrize(
    ("arg", "quoted"),
    [
        ("/usr/bin/studio", "/usr/bin/studio"),
        ("/home/a b/studio", '"/home/a b/studio"'),
        ('/x/"q"$`', '"/x/\\\\"q\\\\"\\\\$\\\\`"'),
        ("50%", "50%%"),
        ("-m", "-m"),
    ],
)
def test_exec_arguments_are_quoted_as_the_spec_asks(arg: str, quoted: str) -> None:
    assert desktop.exec_argument(arg) == quoted


def test_the_launch_command_is_the_studio_beside_this_python() -> None:
    command = desktop.launch_command()
    assert Path(command[0]).is_file()
    assert command[-1] == "studio" or re.search(r"/studio$", command[0])


def test_install_without_desktop_files_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(desktop, "desktop_dir", lambda: tmp_path / "nowhere")
    assert main(["install-desktop", "--data-home", str(tmp_path / "data")]) == 1
    error = capsys.readouterr().err
    assert "lacks its desktop files" in error and "reinstall" in error
    assert not (tmp_path / "data").exists()
