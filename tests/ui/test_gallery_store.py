"""The gallery folder: numbered PNGs with parameters, newest first, failures leave no file."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.core import gallery as gallery_module
from studio.core.gallery import GalleryStore, default_gallery_dir
from studio.core.params import GenerationParams

IMAGE = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
PARAMS = GenerationParams(prompt="a fox", negative_prompt="blur", seed=5, width=8, height=8)


def test_save_writes_a_numbered_png_with_parameters(tmp_path: Path) -> None:
    store = GalleryStore(tmp_path / "g")
    item = store.save(IMAGE, PARAMS, model="emoji-teacher", extra={"Lane": "teacher"})
    assert item.path == tmp_path / "g" / "studio-0001.png"
    assert item.parsed is not None and item.parsed.params == PARAMS
    assert item.parsed.model == "emoji-teacher" and item.parsed.extra == {"Lane": "teacher"}
    with Image.open(item.path) as picture:
        assert np.array_equal(np.asarray(picture), IMAGE)
    assert store.items() == [item]


def test_items_are_newest_first_and_limited(tmp_path: Path) -> None:
    store = GalleryStore(tmp_path)
    saved = [store.save(IMAGE, PARAMS.with_(seed=i)) for i in range(3)]
    for age, item in enumerate(reversed(saved)):
        os.utime(item.path, (1000 - age, 1000 - age))
    assert [i.path.name for i in store.items()] == [
        "studio-0003.png",
        "studio-0002.png",
        "studio-0001.png",
    ]
    assert [i.parsed.params.seed for i in store.items(limit=2)] == [2, 1]


def test_items_skip_unreadable_files(tmp_path: Path) -> None:
    store = GalleryStore(tmp_path)
    store.save(IMAGE, PARAMS)
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    (tmp_path / "notes.txt").write_text("hello")
    Image.fromarray(IMAGE).save(tmp_path / "plain.png")
    names = {i.path.name: i for i in store.items()}
    assert set(names) == {"studio-0001.png", "plain.png"}
    assert names["plain.png"].parsed is None and names["plain.png"].parameters == ""


def test_missing_folder_lists_nothing(tmp_path: Path) -> None:
    assert GalleryStore(tmp_path / "none").items() == []


def test_read_only_folder_raises_and_leaves_no_file(tmp_path: Path, monkeypatch) -> None:
    real_replace = os.replace

    def read_only(src, dst):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "replace", read_only)
    store = GalleryStore(tmp_path)
    with pytest.raises(OSError, match="Read-only"):
        store.save(IMAGE, PARAMS)
    monkeypatch.setattr(os, "replace", real_replace)
    assert list(tmp_path.iterdir()) == []


def test_folder_that_is_a_file_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "g"
    blocker.write_text("x")
    with pytest.raises(OSError):
        GalleryStore(blocker).save(IMAGE, PARAMS)


def test_default_dir_prefers_pictures(tmp_path: Path, monkeypatch) -> None:
    pictures = tmp_path / "Pictures"
    monkeypatch.setattr(gallery_module.platformdirs, "user_pictures_dir", lambda: str(pictures))
    monkeypatch.setattr(
        gallery_module.platformdirs, "user_data_dir", lambda name: str(tmp_path / "data" / name)
    )
    assert default_gallery_dir() == tmp_path / "data" / "studio" / "gallery"
    pictures.mkdir()
    assert default_gallery_dir() == pictures / "Studio"


def test_gallery_delete_removes_only_its_own_pngs(tmp_path: Path) -> None:
    store = GalleryStore(tmp_path / "g")
    params = GenerationParams(prompt="a fox", width=4, height=4)
    item = store.save(np.zeros((4, 4, 3), dtype=np.uint8), params)
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"x")
    for path in (outside, store.folder / ".." / "outside.png", store.folder / "notes.txt"):
        with pytest.raises(ValueError, match="not an image of the gallery folder"):
            store.delete(path)
    assert outside.exists()
    store.delete(item.path)
    assert not item.path.exists() and store.items() == []
