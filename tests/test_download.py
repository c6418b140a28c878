"""kdzoo.data.download against a loopback HTTP server (127.0.0.1 only) that supports Range requests.

The server serves a tiny SONYC-UST-shaped release generated here: ``audio-0.tar.gz`` (three short WAVs under
``audio/``), ``annotations.csv`` and ``dcase-ust-taxonomy.yaml``. A guard on ``socket.create_connection`` fails
any test that tries to reach another host.
"""

from __future__ import annotations

import hashlib
import io
import re
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from kdzoo.data.download import (
    SONYC_UST_REMOTES,
    RemoteFile,
    download_file,
    download_sonyc_ust,
    extract_archive,
    md5sum,
)
from kdzoo.data.sonyc import DCASE2019_TAXONOMY, load_annotations

# --- loopback server ----------------------------------------------------------------------------------------


class Release:
    """What the server holds, and what it was asked for."""

    def __init__(self, files: dict[str, bytes], honour_range: bool = True) -> None:
        self.files = files
        self.honour_range = honour_range
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.bytes_sent = 0


def make_handler(release: Release):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            name = self.path.split("?")[0].lstrip("/")
            release.requests.append((name, self.headers.get("Range")))
            body = release.files.get(name)
            if body is None:
                self.send_error(404)
                return
            start = self._range_start(len(body))
            if start is None:
                return
            chunk = body[start:]
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.send_header("Content-Length", str(len(chunk)))
            self.end_headers()
            self.wfile.write(chunk)
            release.bytes_sent += len(chunk)

        def _range_start(self, size: int) -> int | None:
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if not (match and release.honour_range):
                return 0
            start = int(match.group(1))
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.end_headers()
                return None
            return start

        def log_message(self, *args):  # keep pytest output clean
            pass

    return Handler


@pytest.fixture
def no_remote_hosts(monkeypatch):
    """Fail on any connection that is not to 127.0.0.1 (and keep proxies out of the way)."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        assert address[0] == "127.0.0.1", f"test tried to reach {address}"
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)


def serve(release: Release):
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(release))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def server(no_remote_hosts):
    """Yields ``start(release) -> base_url``; every server started is shut down after the test."""
    started = []

    def start(release: Release) -> str:
        server, thread, url = serve(release)
        started.append((server, thread))
        return url

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- a tiny release -----------------------------------------------------------------------------------------


def wav_bytes(seconds: float, freq: float) -> bytes:
    t = np.arange(round(seconds * 8000)) / 8000
    buffer = io.BytesIO()
    sf.write(buffer, (0.2 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 8000, format="WAV")
    return buffer.getvalue()


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


WAVS = {"audio/00_000001.wav": wav_bytes(1.0, 440), "audio/00_000002.wav": wav_bytes(1.2, 550)}
WAVS["audio/01_000003.wav"] = wav_bytes(0.8, 660)


def annotations_csv() -> bytes:
    header = ["split", "sensor_id", "audio_filename", "annotator_id"]
    header += [f"{c}-{f}_{n}_presence" for c, g in DCASE2019_TAXONOMY["fine"].items() for f, n in g.items()]
    header += [f"{c}_{n}_presence" for c, n in DCASE2019_TAXONOMY["coarse"].items()]
    rows = [["train", "0", Path(name).name, "1"] + ["0"] * 37 for name in WAVS]
    return "\n".join(",".join(r) for r in [header, *rows]).encode() + b"\n"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def release() -> Release:
    return Release(
        {
            "audio-0.tar.gz": tar_gz(WAVS),
            "annotations.csv": annotations_csv(),
            "dcase-ust-taxonomy.yaml": yaml.safe_dump(DCASE2019_TAXONOMY, sort_keys=False).encode(),
        }
    )


def remotes(release: Release, **wrong_md5: str) -> list[RemoteFile]:
    """The release as RemoteFiles (official-looking URLs; tests pass base_url to hit the loopback server)."""
    return [
        RemoteFile(name, f"https://zenodo.org/records/1/files/{name}", wrong_md5.get(name, md5(body)))
        for name, body in release.files.items()
    ]


# --- tests --------------------------------------------------------------------------------------------------


def test_full_download_extracts_into_the_datamodule_layout(tmp_path, server, release):
    base_url = server(release)
    root = download_sonyc_ust(2, tmp_path / "ust", base_url=base_url, files=remotes(release))
    assert root == tmp_path / "ust"
    for name, data in WAVS.items():
        assert (root / name).read_bytes() == data
    assert (root / "annotations.csv").read_bytes() == release.files["annotations.csv"]
    assert len(load_annotations(root / "annotations.csv")) == 3
    assert not (root / "audio-0.tar.gz").exists()  # unpacked archives are removed, a marker remains
    assert (root / ".audio-0.tar.gz.extracted").read_text().strip() == md5(release.files["audio-0.tar.gz"])
    assert not list(root.glob("*.part"))
    assert sorted(release.requests) == [(name, None) for name in sorted(release.files)]
    assert release.bytes_sent == sum(len(body) for body in release.files.values())


def test_second_run_downloads_nothing(tmp_path, server, release):
    base_url = server(release)
    download_sonyc_ust(2, tmp_path, base_url=base_url, files=remotes(release))
    release.requests.clear()
    download_sonyc_ust(2, tmp_path, base_url=base_url, files=remotes(release))
    assert release.requests == []


def test_resume_requests_only_the_missing_bytes(tmp_path, server, release):
    archive = release.files["audio-0.tar.gz"]
    kept = len(archive) // 3
    (tmp_path / "audio-0.tar.gz.part").write_bytes(archive[:kept])
    base_url = server(release)
    download_sonyc_ust(2, tmp_path, base_url=base_url, files=remotes(release)[:1])
    assert release.requests == [("audio-0.tar.gz", f"bytes={kept}-")]
    assert release.bytes_sent == len(archive) - kept
    for name, data in WAVS.items():
        assert (tmp_path / name).read_bytes() == data


def test_complete_part_file_is_verified_without_refetching_data(tmp_path, server, release):
    (tmp_path / "annotations.csv.part").write_bytes(release.files["annotations.csv"])
    base_url = server(release)
    download_file(f"{base_url}/annotations.csv", tmp_path / "annotations.csv", md5(release.files["annotations.csv"]))
    assert release.bytes_sent == 0  # the server answered 416: nothing left to send
    assert (tmp_path / "annotations.csv").read_bytes() == release.files["annotations.csv"]


def test_server_ignoring_range_restarts_cleanly(tmp_path, server, release):
    release.honour_range = False
    body = release.files["annotations.csv"]
    (tmp_path / "annotations.csv.part").write_bytes(b"stale bytes from an old run")
    base_url = server(release)
    download_file(f"{base_url}/annotations.csv", tmp_path / "annotations.csv", md5(body))
    assert (tmp_path / "annotations.csv").read_bytes() == body


def test_checksum_mismatch_raises_and_leaves_no_file(tmp_path, server, release):
    base_url = server(release)
    files = remotes(release, **{"annotations.csv": "0" * 32})
    with pytest.raises(ValueError, match=r"annotations.csv: md5 mismatch \(expected 0{32}, got [0-9a-f]{32}\)"):
        download_sonyc_ust(2, tmp_path, base_url=base_url, files=files[1:2])
    assert not (tmp_path / "annotations.csv").exists()
    assert not (tmp_path / "annotations.csv.part").exists()


def test_unknown_checksum_downloads_unverified(tmp_path, server, release, caplog):
    base_url = server(release)
    files = [RemoteFile("annotations.csv", "https://example.invalid/annotations.csv", None)]
    download_sonyc_ust(1, tmp_path, base_url=base_url, files=files)
    assert (tmp_path / "annotations.csv").read_bytes() == release.files["annotations.csv"]
    assert "no published checksum" in caplog.text


def test_http_error_names_the_url(tmp_path, server, release):
    base_url = server(release)
    with pytest.raises(ConnectionError, match=r"download of http://127.0.0.1:\d+/missing.bin failed: HTTP 404"):
        download_file(f"{base_url}/missing.bin", tmp_path / "missing.bin")
    assert not (tmp_path / "missing.bin").exists()


@pytest.mark.parametrize("name", ["../evil.wav", "/tmp/kdzoo-evil.wav", "audio/../../evil.wav"])
def test_path_traversal_is_refused(tmp_path, name):
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(tar_gz({"audio/ok.wav": b"x", name: b"evil"}))
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(ValueError, match="refusing to extract .* outside"):
        extract_archive(archive, dest)
    assert not (tmp_path / "evil.wav").exists() and not Path("/tmp/kdzoo-evil.wav").exists()
    assert not (dest / "audio" / "ok.wav").exists()  # nothing is extracted from a bad archive


def test_links_are_refused(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        link = tarfile.TarInfo("audio/passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    (tmp_path / "link.tar.gz").write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="refusing to extract 'audio/passwd': only regular files and folders"):
        extract_archive(tmp_path / "link.tar.gz", tmp_path)


def test_corrupt_archive_is_reported(tmp_path):
    (tmp_path / "broken.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(ValueError, match="broken.tar.gz: not a readable tar archive"):
        extract_archive(tmp_path / "broken.tar.gz", tmp_path)


def test_md5sum_matches_hashlib(tmp_path):
    data = np.random.default_rng(1).bytes(3 * (1 << 20) + 17)  # spans several read chunks
    (tmp_path / "blob").write_bytes(data)
    assert md5sum(tmp_path / "blob") == hashlib.md5(data).hexdigest()


def test_official_release_tables():
    v1, v2 = SONYC_UST_REMOTES[1], SONYC_UST_REMOTES[2]
    assert [f.filename for f in v1] == ["annotations.csv", "audio.tar.gz", "dcase-ust-taxonomy.yaml", "README.md"]
    assert all(f.url.startswith("https://zenodo.org/records/2590742/files/") for f in v1)
    assert [f.filename for f in v2 if f.is_archive] == [f"audio-{i}.tar.gz" for i in range(19)]
    assert len(v2) == 21 and all(f.url.startswith("https://zenodo.org/records/3966543/files/") for f in v2)
    assert all(re.fullmatch(r"[0-9a-f]{32}", f.md5) for f in v2)
    assert len({f.md5 for f in v2}) == 21
    with pytest.raises(ValueError, match=r"unknown SONYC-UST version 3; available: \[1, 2\]"):
        download_sonyc_ust(3, "/nonexistent")
