"""Tests for ``mosi_lib.paths``: folders checked before a study writes to them."""

import os
import shutil
from collections import namedtuple

import pytest

from mosi_lib import paths


def test_unwritable_looping_or_full_folders_are_refused_in_one_line(tmp_path, monkeypatch):
    assert paths.check_writable(tmp_path / "new" / "runs", "runs") == tmp_path / "new" / "runs"
    assert not (tmp_path / "new").exists()  # checked, not made
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(ValueError, match=r"loop: runs folder is a symbolic link that leads no"):
        paths.check_writable(loop / "study", "runs")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="file: figures folder path holds a file"):
        paths.check_writable(tmp_path / "file" / "figures", "figures")
    if os.geteuid() != 0:  # root writes anywhere: the read-only case needs another user
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(ValueError, match="ro: runs folder is not writable"):
            paths.check_writable(ro, "runs")
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10 * 2**30, 10 * 2**30, 2**20))
    with pytest.raises(ValueError, match=r"runs folder has 1 MB free; expected at least 500 MB"):
        paths.check_writable(tmp_path, "runs")
