"""Quantities in words for people: sizes of files and downloads."""

from __future__ import annotations

from studio.core.events import DownloadProgress

UNITS = ("bytes", "KB", "MB", "GB", "TB")


def human_size(count: int | float) -> str:
    """'512 bytes', '3.4 MB', '6.9 GB' (powers of 1000, as disks and downloads count)."""
    value = float(max(count, 0))
    for unit in UNITS[:-1]:
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} {UNITS[-1]}"


def download_status(event: DownloadProgress) -> str:
    """'Downloading org/name: 1.2 GB of 4.1 GB, 3/12 files'."""
    size = human_size(event.bytes_done)
    if event.bytes_total:
        size += f" of {human_size(event.bytes_total)}"
    files = f", {event.files_done}/{event.files_total} files" if event.files_total else ""
    return f"Downloading {event.model.display_name}: {size}{files}"
