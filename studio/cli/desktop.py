"""`studio install-desktop` and `studio uninstall-desktop`: the app in the Linux desktop's menus."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from studio.cli.args import fail

NOT_LINUX = (
    "studio: {command} puts Linux desktop files in place, and this is {platform}; "
    "see packaging/README.md for Windows and macOS."
)


def register(sub: argparse._SubParsersAction) -> None:
    for name, text, command in (
        (
            "install-desktop",
            "add Studio to the desktop's application menu (Linux, this user)",
            cmd_install_desktop,
        ),
        ("uninstall-desktop", "remove what install-desktop added", cmd_uninstall_desktop),
    ):
        parser = sub.add_parser(name, help=text)
        parser.add_argument(
            "--data-home",
            type=Path,
            default=None,
            help="the XDG data folder to use (default: $XDG_DATA_HOME, else ~/.local/share)",
        )
        parser.set_defaults(func=command)


def _on_linux(command: str) -> bool:
    if sys.platform.startswith("linux"):
        return True
    print(NOT_LINUX.format(command=command, platform=sys.platform), file=sys.stderr)
    return False


def cmd_install_desktop(args: argparse.Namespace) -> int:
    from studio import desktop

    if not _on_linux("install-desktop"):
        return 1
    try:
        written = desktop.install(args.data_home)
    except desktop.DesktopFilesMissing as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(
            f"could not write the desktop files ({exc.strerror or exc}: {exc.filename}); "
            "make that folder writable or pass another --data-home."
        )
    for path in written:
        print(f"installed {path}")
    command = " ".join(desktop.launch_command())
    print(f"Studio is in the application menu; it starts with: {command}")
    return 0


def cmd_uninstall_desktop(args: argparse.Namespace) -> int:
    from studio import desktop

    if not _on_linux("uninstall-desktop"):
        return 1
    try:
        removed = desktop.uninstall(args.data_home)
    except OSError as exc:
        return fail(
            f"could not remove the desktop files ({exc.strerror or exc}: {exc.filename}); "
            "remove them by hand."
        )
    for path in removed:
        print(f"removed {path}")
    if not removed:
        print("studio: no desktop files of Studio were installed for this user.")
    return 0
