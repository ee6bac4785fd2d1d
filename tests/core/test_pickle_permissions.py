"""Pickle permissions: one file as it is now (path, size, mtime), never another, and kept in the
settings file, where anything odd drops them all so the user is asked again."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from studio.core.models import ModelRef, ModelSource
from studio.core.pickle_permissions import (
    PicklePermission,
    PicklePermissions,
    file_stamp,
)
from studio.core.settings import Settings, load_settings, save_settings, settings_from_json


@pytest.fixture
def pickle_file(tmp_path: Path) -> Path:
    path = tmp_path / "models" / "old.ckpt"
    path.parent.mkdir()
    path.write_bytes(b"\x80\x02}q\x00.")
    return path


def test_allowing_one_file_allows_that_file_only(pickle_file, tmp_path):
    other = tmp_path / "other.ckpt"
    other.write_bytes(pickle_file.read_bytes())
    allowed = PicklePermissions().allowing(pickle_file)
    assert allowed.allows(pickle_file)
    assert allowed.allows(tmp_path / "models" / ".." / "models" / "old.ckpt")
    assert not allowed.allows(other)
    assert not PicklePermissions().allows(pickle_file)
    (stamp,) = allowed.entries
    assert stamp == PicklePermission(
        path=str(pickle_file.resolve()),
        size_bytes=pickle_file.stat().st_size,
        mtime_ns=pickle_file.stat().st_mtime_ns,
    )


def test_a_link_to_the_allowed_file_is_that_file(pickle_file, tmp_path):
    link = tmp_path / "link.ckpt"
    link.symlink_to(pickle_file)
    assert PicklePermissions().allowing(pickle_file).allows(link)


def test_a_changed_or_replaced_file_is_not_allowed_any_more(pickle_file):
    allowed = PicklePermissions().allowing(pickle_file)
    later = pickle_file.stat().st_mtime_ns + 2_000_000_000
    os.utime(pickle_file, ns=(later, later))
    assert not allowed.allows(pickle_file)
    renewed = allowed.allowing(pickle_file)
    assert renewed.allows(pickle_file) and len(renewed.entries) == 1
    pickle_file.write_bytes(b"\x80\x02}q\x00.")  # the same bytes written again, later
    os.utime(pickle_file, ns=(later + 10**9, later + 10**9))
    assert not renewed.allows(pickle_file)
    pickle_file.unlink()
    assert not renewed.allows(pickle_file)


def test_without_takes_one_file_back(pickle_file, tmp_path):
    other = tmp_path / "b.ckpt"
    other.write_bytes(b"\x80\x02N.")
    both = PicklePermissions().allowing(pickle_file).allowing(other)
    left = both.without(pickle_file)
    assert not left.allows(pickle_file) and left.allows(other)


def test_only_a_single_file_reference_gets_the_opt_in(pickle_file):
    allowed = PicklePermissions().allowing(pickle_file)
    file_ref = ModelRef(location=str(pickle_file), source=ModelSource.file)
    assert allowed.applied_to(file_ref).allow_pickle
    assert not PicklePermissions().applied_to(file_ref).allow_pickle
    folder_ref = ModelRef(location=str(pickle_file), source=ModelSource.folder)
    assert allowed.applied_to(folder_ref) is folder_ref
    hub_ref = ModelRef(location="org/model", source=ModelSource.hub)
    assert allowed.applied_to(hub_ref) is hub_ref


def test_a_file_that_cannot_be_read_cannot_be_allowed(tmp_path):
    with pytest.raises(OSError):
        PicklePermissions().allowing(tmp_path / "missing.ckpt")
    with pytest.raises(OSError):
        file_stamp(tmp_path / "missing.ckpt")


def test_permissions_survive_the_settings_file(pickle_file, tmp_path):
    path = tmp_path / "settings.json"
    settings = replace(Settings(), pickle_permissions=PicklePermissions().allowing(pickle_file))
    save_settings(path, settings)
    saved = json.loads(path.read_text())["pickle_permissions"]
    assert saved == [
        {
            "path": str(pickle_file.resolve()),
            "size_bytes": pickle_file.stat().st_size,
            "mtime_ns": pickle_file.stat().st_mtime_ns,
        }
    ]
    loaded, notice = load_settings(path)
    assert notice is None and loaded.pickle_permissions.allows(pickle_file)


@pytest.mark.parametrize(
    "junk",
    [
        "all",
        {"path": "/m/a.ckpt"},
        [{"path": "relative.ckpt", "size_bytes": 1, "mtime_ns": 1}],
        [{"path": "/m/a.ckpt", "size_bytes": True, "mtime_ns": 1}],
        [{"path": "/m/a.ckpt", "size_bytes": 1, "mtime_ns": -1}],
        [{"path": "/m/a.ckpt", "size_bytes": 1, "mtime_ns": 1, "trusted": True}],
        [{"path": "/m/a\x00.ckpt", "size_bytes": 1, "mtime_ns": 1}],
        [{"path": "/m/a.ckpt", "size_bytes": 1, "mtime_ns": 1}] * 201,
    ],
)
def test_junk_in_the_settings_drops_every_permission_with_a_warning(junk):
    good = {"path": "/m/b.ckpt", "size_bytes": 1, "mtime_ns": 1}
    data = {"pickle_permissions": [good, junk] if isinstance(junk, dict) else junk}
    settings, warnings = settings_from_json(data)
    assert settings.pickle_permissions == PicklePermissions()
    (warning,) = warnings
    assert warning.startswith("The setting 'pickle_permissions' is not usable (")
    assert warning.endswith("asked again for each pickle file), so the default is used.")
