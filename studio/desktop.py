"""The Linux desktop integration: the app id, and putting the desktop files in the XDG folders.

`install()` copies the desktop entry (its Exec pointing at the studio command that runs now),
the AppStream metainfo and the hicolor icons into the user's data folder ($XDG_DATA_HOME, else
~/.local/share); `uninstall()` removes exactly those files. Every write is atomic.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from studio.core.atomic import atomic_write_bytes, atomic_write_text
from studio.core.paths import desktop_dir

APP_ID = "io.github.studio.Studio"
# Characters that make the Desktop Entry spec quote an Exec argument.
_RESERVED = re.compile(r"[\s\"'\\><~|&;$*?#()`]")


@dataclass(frozen=True, slots=True, kw_only=True)
class DesktopFile:
    """One file of the integration: where it is shipped and where it goes under the data home."""

    source: str
    target: str


DESKTOP_FILES = (
    DesktopFile(source=f"{APP_ID}.desktop", target=f"applications/{APP_ID}.desktop"),
    DesktopFile(source=f"{APP_ID}.metainfo.xml", target=f"metainfo/{APP_ID}.metainfo.xml"),
    DesktopFile(source=f"icons/{APP_ID}.svg", target=f"icons/hicolor/scalable/apps/{APP_ID}.svg"),
    DesktopFile(
        source=f"icons/{APP_ID}-256.png", target=f"icons/hicolor/256x256/apps/{APP_ID}.png"
    ),
)


class DesktopFilesMissing(FileNotFoundError):
    """This installation does not carry the desktop files."""


def data_home() -> Path:
    """The user's XDG data folder: $XDG_DATA_HOME when set, else ~/.local/share."""
    return platformdirs.user_data_path()


def icon_path(size: int = 256) -> Path:
    """The shipped PNG icon (for the window icon)."""
    return desktop_dir() / "icons" / f"{APP_ID}-{size}.png"


def launch_command() -> list[str]:
    """The command that starts this studio: the bundle, the `studio` script beside this Python,
    or this Python with `-m studio`."""
    if getattr(sys, "frozen", False):
        return [str(Path(sys.executable).resolve())]
    script = Path(sys.executable).parent / "studio"
    if script.is_file():
        return [str(script)]
    return [str(Path(sys.executable)), "-m", "studio"]


def exec_argument(arg: str) -> str:
    """One Exec argument, quoted and escaped as the Desktop Entry specification asks."""
    if _RESERVED.search(arg):
        arg = '"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"'
    return arg.replace("\\", "\\\\").replace("%", "%%")


def desktop_entry(template: str, command: list[str]) -> str:
    """The desktop entry `template` with Exec and TryExec set to `command`."""
    exec_line = " ".join(exec_argument(arg) for arg in command)
    try_exec = command[0].replace("\\", "\\\\")
    lines = []
    for line in template.splitlines():
        if line.startswith("Exec="):
            line = f"Exec={exec_line}"
        elif line.startswith("TryExec="):
            line = f"TryExec={try_exec}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _sources() -> Path:
    folder = desktop_dir()
    missing = [f.source for f in DESKTOP_FILES if not (folder / f.source).is_file()]
    if missing:
        raise DesktopFilesMissing(
            f"This Studio installation lacks its desktop files ({', '.join(missing)} in "
            f"{folder}); reinstall Studio from a wheel or a checkout that has packaging/linux."
        )
    return folder


def install(home: Path | None = None, command: list[str] | None = None) -> list[Path]:
    """Write the desktop files under `home` (default: the XDG data home); the paths written."""
    folder, home = _sources(), home or data_home()
    written = []
    for item in DESKTOP_FILES:
        source, target = folder / item.source, home / item.target
        if item.source.endswith(".desktop"):
            text = desktop_entry(source.read_text(encoding="utf-8"), command or launch_command())
            written.append(atomic_write_text(target, text))
        else:
            written.append(atomic_write_bytes(target, source.read_bytes()))
    return written


def uninstall(home: Path | None = None) -> list[Path]:
    """Remove the files `install` writes under `home`; the paths that were there."""
    home = home or data_home()
    removed = []
    for item in DESKTOP_FILES:
        target = home / item.target
        if target.is_file() or target.is_symlink():
            target.unlink()
            removed.append(target)
    return removed
