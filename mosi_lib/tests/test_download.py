"""Tests for ``mosi_lib.data.sources`` against a loopback HTTP server (no other network).

The server serves small ``.csd`` files written with ``write_csd`` under the SDK's root names,
honours ``Range`` requests, and can be told to misbehave per file name (status, cut the
connection after K bytes, serve another file, announce more bytes than it sends, ignore Range).
"""

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from mosi_lib import __main__ as cli
from mosi_lib.config import DataConfig
from mosi_lib.data import sources as dl
from mosi_lib.data.sdk import CSD_FILES, CSD_IDENTITY, write_csd
from mosi_lib.data.sources import csd_keys


@pytest.fixture(scope="module")
def source_dir(tmp_path_factory) -> Path:
    """The six CMU-MOSI files, two videos each, with the SDK's root names and widths."""
    out = tmp_path_factory.mktemp("served")
    rng = np.random.default_rng(0)
    for key, name in CSD_FILES.items():
        root, width, _ = CSD_IDENTITY[key]
        data = {}
        for vid in ("vidA", "vidB"):
            n = 40
            ivals = np.cumsum(rng.uniform(0.1, 0.3, (n, 2)), axis=0)
            ivals[:, 1] = ivals[:, 0] + 0.1
            if key == "words":
                feats = np.array([[b"word"]] * n)
            elif key == "labels":
                feats = rng.uniform(-3, 3, (n, 1)).astype(np.float32)
            else:
                feats = rng.normal(size=(n, width)).astype(np.float32)
            data[vid] = (feats, ivals)
        write_csd(out / name, root, data, {"dataset name": "CMU-MOSI (test)"})
    return out


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        srv = self.server
        rng = self.headers.get("Range")
        srv.requests.append((self.path, rng))
        name = self.path.rsplit("/", 1)[-1]
        rule = srv.rules.get(name, {})
        src = srv.root / rule.get("serve", name)
        if rule.get("status") or not src.is_file():
            self.send_error(rule.get("status", 404))
            return
        body = src.read_bytes()
        if "truncate_to" in rule:  # a complete transfer of a truncated file
            body = body[: rule["truncate_to"]]
        start = 0
        if rng and not rule.get("ignore_range"):
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        chunk = body[start:]
        self.send_header("Content-Length", str(len(chunk) + rule.get("extra_length", 0)))
        self.end_headers()
        cut = rule.pop("cut_after", None)  # first request only: the connection breaks
        self.wfile.write(chunk if cut is None else chunk[:cut])

    def log_message(self, *args):
        pass


@pytest.fixture
def server(source_dir, monkeypatch):
    """A loopback server on a free port; ``.rules``, ``.requests``, ``.url``."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY", dl.BASE_URL_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.root, srv.rules, srv.requests = source_dir, {}, []
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _get(server, to, **kw):
    return dl.download(to=to, base_url=server.url, progress=False, timeout=5, **kw)


def test_table_matches_files_and_csd_source():
    assert {k: p.rsplit("/", 1)[-1] for k, p in dl.SDK_PATHS.items()} == CSD_FILES
    cfg = DataConfig(source="csd", modalities=["text", "audio", "visual"])
    assert set(dl.DEFAULT_KEYS) == set(csd_keys(cfg))
    assert dl.sdk_url("audio") == (
        "http://immortal.multicomp.cs.cmu.edu/CMU-MOSI/acoustic/CMU_MOSI_COVAREP.csd"
    )


def test_full_download_places_checked_files(server, source_dir, capsys):
    out = _get(server, None)  # default folder: under MOSI_DATA_DIR (a tmp folder here)
    folder = dl.default_dir()
    assert list(out) == list(dl.DEFAULT_KEYS)
    for key, path in out.items():
        assert path == folder / CSD_FILES[key]
        assert path.read_bytes() == (source_dir / CSD_FILES[key]).read_bytes()
    assert not list(folder.glob("*.part"))
    assert sorted(p for p, _ in server.requests) == sorted(
        "/" + dl.SDK_PATHS[k] for k in dl.DEFAULT_KEYS
    )


def test_interrupted_download_resumes_with_range(server, source_dir, tmp_path):
    name = CSD_FILES["audio"]
    size = (source_dir / name).stat().st_size
    k = size // 3
    server.rules[name] = {"cut_after": k}
    with pytest.raises(dl.DownloadError, match=rf"truncated: got {k} of {size} bytes"):
        _get(server, tmp_path, keys=["audio"])
    assert not (tmp_path / name).exists()
    assert (tmp_path / f"{name}.part").stat().st_size == k
    out = _get(server, tmp_path, keys=["audio"])
    assert server.requests[-1] == ("/" + dl.SDK_PATHS["audio"], f"bytes={k}-")
    assert out["audio"].read_bytes() == (source_dir / name).read_bytes()
    assert not (tmp_path / f"{name}.part").exists()


def test_range_ignored_starts_over_and_whole_part_is_checked(server, source_dir, tmp_path):
    name = CSD_FILES["labels"]
    good = (source_dir / name).read_bytes()
    (tmp_path / f"{name}.part").write_bytes(good[:100])
    server.rules[name] = {"ignore_range": True}  # answers 200 with the whole file
    assert _get(server, tmp_path, keys=["labels"])["labels"].read_bytes() == good
    (tmp_path / name).unlink()
    (tmp_path / f"{name}.part").write_bytes(good)  # already whole: the server answers 416
    server.rules.clear()
    assert _get(server, tmp_path, keys=["labels"])["labels"].read_bytes() == good
    assert server.requests[-1][1] == f"bytes={len(good)}-"


def test_404_names_address_and_alternatives(server, tmp_path):
    server.rules[CSD_FILES["text"]] = {"status": 404}
    with pytest.raises(dl.DownloadError) as exc:
        _get(server, tmp_path, keys=["text"])
    msg = str(exc.value)
    assert f"{server.url}/{dl.SDK_PATHS['text']}: HTTP 404" in msg
    assert "MMSA" in msg and "MulT" in msg and "aligned_50.pkl" in msg
    assert "--source mmsa" in msg and "--source mult" in msg and "\n" not in msg
    assert not (tmp_path / CSD_FILES["text"]).exists()


def test_connection_refused_is_one_clear_error(tmp_path, server):
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    with pytest.raises(dl.DownloadError, match=r"127\.0\.0\.1.*no connection .*MMSA"):
        dl.download(["labels"], tmp_path, f"http://127.0.0.1:{port}", False, 2)


@pytest.mark.parametrize(
    "rule,why,part_kept",
    [
        ({"extra_length": 1000}, r"truncated: got \d+ of \d+ bytes", True),
        ({"truncate_to": 3000}, r"fails its check \(.*not a readable HDF5", False),
    ],
)
def test_truncated_file_is_refused(server, tmp_path, rule, why, part_kept):
    name = CSD_FILES["facet41"]
    server.rules[name] = rule
    with pytest.raises(dl.DownloadError, match=why):
        _get(server, tmp_path, keys=["facet41"])
    assert not (tmp_path / name).exists()
    assert (tmp_path / f"{name}.part").exists() == part_kept


def test_wrong_root_name_is_refused(server, tmp_path):
    name = CSD_FILES["audio"]
    server.rules[name] = {"serve": CSD_FILES["labels"]}
    with pytest.raises(dl.DownloadError, match="root name 'Opinion Segment Labels'.*COVAREP"):
        _get(server, tmp_path, keys=["audio"])
    assert not (tmp_path / name).exists() and not (tmp_path / f"{name}.part").exists()


def test_good_file_skipped_bad_file_needs_force(server, source_dir, tmp_path, capsys):
    for key in ("labels", "audio"):
        (tmp_path / CSD_FILES[key]).write_bytes((source_dir / CSD_FILES[key]).read_bytes())
    _get(server, tmp_path, keys=["labels", "audio"])
    assert server.requests == []
    assert "already in" in capsys.readouterr().out
    (tmp_path / CSD_FILES["audio"]).write_bytes(b"not hdf5")
    with pytest.raises(dl.DownloadError, match="in place but fails its check.*--force"):
        _get(server, tmp_path, keys=["audio"])
    assert server.requests == []
    _get(server, tmp_path, keys=["audio"], force=True)
    assert (tmp_path / CSD_FILES["audio"]).read_bytes() == (
        source_dir / CSD_FILES["audio"]
    ).read_bytes()


def test_cli_404_exits_1_with_one_error_line(server, tmp_path, capsys):
    server.rules[CSD_FILES["labels"]] = {"status": 404}
    code = cli.main(["download", "--to", str(tmp_path), "--files", "labels", "--base-url",
                     server.url, "--no-progress"])
    assert code == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: ") and "HTTP 404" in err[0]


def test_cli_success_prints_folder_and_command(server, tmp_path, capsys):
    # progress bars on (no --no-progress): tqdm writes to stderr
    code = cli.main(["download", "--to", str(tmp_path), "--files", "labels", "text", "audio",
                     "facet41", "--base-url", server.url])
    assert code == 0
    out, err = capsys.readouterr()
    assert "error" not in err
    assert f"make reproduce PROFILE=paper SOURCE=csd DATA_DIR={tmp_path.resolve()}" in out
    assert "--source csd also needs" not in out


def test_cli_refuses_unknown_key(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["download", "--files", "covarep"])
    assert exc.value.code == 2
    assert "invalid choice: 'covarep'" in capsys.readouterr().err
