"""A stand-in for `huggingface_hub.snapshot_download` that needs no network.

It copies a local model folder into a Hugging Face cache layout (`models--org--name/snapshots/
<sha>/`, `refs/main`) and reports its progress the way the real one does: through bars made
from the given `tqdm_class` by huggingface_hub's own helpers (a file count advanced by
`hf_thread_map` on its worker threads, bytes written, bytes received), in chunks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huggingface_hub.utils.tqdm import _create_progress_bar, hf_thread_map

SHA = "0123456789abcdef0123456789abcdef01234567"
CHUNK = 4096


class FakeSnapshot:
    """Downloads `source` as `repo_id` into `cache`; `on_chunk(path, done)` runs after every
    chunk (a test cancels from it); `calls` counts the downloads asked for."""

    def __init__(
        self, source: Path, cache: Path, on_chunk: Callable[[Path, int], None] | None = None
    ) -> None:
        self.source, self.cache, self.on_chunk = source, cache, on_chunk
        self.calls: list[dict[str, Any]] = []
        self.written: list[Path] = []

    def snapshot_folder(self, repo_id: str) -> Path:
        return self.cache / f"models--{repo_id.replace('/', '--')}" / "snapshots" / SHA

    def __call__(self, repo_id: str, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        bar_class = kwargs["tqdm_class"]
        target = self.snapshot_folder(repo_id)
        files = sorted(p for p in self.source.rglob("*") if p.is_file())
        received = self._bar(
            bar_class, "huggingface_hub.snapshot_download.transfer", "Downloading bytes"
        )
        written = self._bar(bar_class, "huggingface_hub.snapshot_download", "Reconstructing")

        def fetch(path: Path) -> None:
            destination = target / path.relative_to(self.source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            data = path.read_bytes()
            written.total = (written.total or 0) + len(data)
            with open(destination, "wb") as out:
                for start in range(0, len(data), CHUNK):
                    chunk = data[start : start + CHUNK]
                    out.write(chunk)
                    received.update(len(chunk))
                    written.update(len(chunk))
                    if self.on_chunk:
                        self.on_chunk(destination, start + len(chunk))
            self.written.append(destination)

        hf_thread_map(
            fetch, files, desc=f"Fetching {len(files)} files", max_workers=2, tqdm_class=bar_class
        )
        refs = target.parents[1] / "refs"
        refs.mkdir(parents=True, exist_ok=True)
        (refs / "main").write_text(SHA)
        return str(target)

    @staticmethod
    def _bar(bar_class: type, name: str, desc: str) -> Any:
        return _create_progress_bar(
            cls=bar_class,
            log_level=logging.INFO,
            name=name,
            desc=desc,
            total=0,
            initial=0,
            unit="B",
            unit_scale=True,
        )
