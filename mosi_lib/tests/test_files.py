"""Tests for ``mosi_lib.files``: atomic writes and checkpoints."""

import pytest

from mosi_lib import files
from mosi_lib.study import pretrain_runs


def test_failed_checkpoint_write_keeps_previous_and_leaves_no_temp(tmp_path, monkeypatch):
    import torch

    path = tmp_path / "last.pt"
    files.save_checkpoint({"epoch": 1, "w": torch.ones(2)}, path)
    real_save = torch.save

    def killed(obj, f, *args, **kwargs):  # writes part of the file, then dies
        with open(f, "wb") as fh:
            fh.write(b"\x80\x02partial")
        raise KeyboardInterrupt("killed during torch.save")

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        files.save_checkpoint({"epoch": 2, "w": torch.zeros(2)}, path)
    monkeypatch.setattr(torch, "save", real_save)
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left
    ckpt = files.load_checkpoint(path)
    assert ckpt["epoch"] == 1 and ckpt["w"].tolist() == [1.0, 1.0]


def test_load_checkpoint_names_missing_empty_and_damaged_files(tmp_path):


    empty = tmp_path / "last.pt"
    empty.touch()
    with pytest.raises(RuntimeError, match=rf"checkpoint {empty}: empty file"):
        files.load_checkpoint(empty)
    with pytest.raises(RuntimeError, match=rf"checkpoint {empty}: empty file"):
        pretrain_runs.load_checkpoint(empty)  # the resume path goes through the same helper
    bad = tmp_path / "best.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match=rf"checkpoint {bad}: cannot be read"):
        files.load_checkpoint(bad)
    with pytest.raises(FileNotFoundError, match=rf"checkpoint {tmp_path / 'x.pt'}: not found"):
        files.load_checkpoint(tmp_path / "x.pt")
