"""Download releases (SONYC-UST here, TAU Urban Acoustic Scenes in :mod:`kdzoo.data.tau`): resumable,
checksum-verified, atomic, safely extracted.

Each file is fetched into ``<name>.part`` (an interrupted run resumes from its size with an HTTP ``Range``
request), its md5 is checked against the published one, and only then is it renamed into place with
``os.replace``. ``.tar.gz`` and ``.zip`` archives are unpacked into ``root`` (members that would land outside it,
links and device files are refused), then deleted and replaced by a small ``.<name>.extracted`` marker so a second run
downloads nothing. The unpacked layout is what :class:`kdzoo.data.sonyc.SonycUSTDataModule` reads:

* v1 (Zenodo 2590742, DCASE 2019 T5): ``root/annotations.csv``, ``root/dcase-ust-taxonomy.yaml``,
  ``root/train/*.wav``, ``root/validate/*.wav`` (``audio.tar.gz`` unpacks to the split folders, as the
  official baseline's ``extract_embedding.py`` reads them).
* v2.3 (Zenodo 3966543, DCASE 2020 T5): ``root/annotations.csv``, ``root/dcase-ust-taxonomy.yaml``,
  ``root/audio/*.wav`` (``audio-0.tar.gz`` ... ``audio-18.tar.gz``; paths as in soundata's
  ``sonyc_ust_index.json``).

Only the standard library speaks HTTP (``urllib.request``), so proxies set in the environment are honoured.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import stat
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 60.0
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")


@dataclass(frozen=True)
class RemoteFile:
    """One file of a release.

    Attributes:
        filename: the name on the server; also the name it gets under ``root`` (and under ``base_url``).
        url: the official download URL.
        md5: published md5 hex digest, or ``None`` where none could be found (then the file is not verified).
    """

    filename: str
    url: str
    md5: str | None
    strip: str | None = None
    """A leading folder dropped from archive member paths that start with it (e.g. a zip's top folder)."""

    @property
    def is_archive(self) -> bool:
        return self.filename.endswith(ARCHIVE_SUFFIXES)


def _zenodo(record: int, filename: str, md5: str | None) -> RemoteFile:
    return RemoteFile(filename, f"https://zenodo.org/records/{record}/files/{filename}?download=1", md5)


SONYC_UST_V1_RECORD = 2590742
SONYC_UST_V2_RECORD = 3966543

# v1: file names from the official baseline's setup.sh / README (sonyc-project/urban-sound-tagging-baseline),
# which downloads exactly these four files from record 2590742. No published md5 for them was found (soundata
# and mirdata ship only v2.3), so they are stored as None and the files are not verified; a broken archive still
# fails loudly when it is unpacked. (Later v1 records, 3233082 and 3338310, add audio-eval.tar.gz; pass them via
# ``files=`` if needed.)
_V1_FILES = ("annotations.csv", "audio.tar.gz", "dcase-ust-taxonomy.yaml", "README.md")

# v2.3: names and md5s from soundata's ``soundata/datasets/sonyc_ust.py`` REMOTES (record 3966543).
_V2_MD5 = {
    "audio-0.tar.gz": "bbb4dbae7d2e58e18d24878b9ee1eb51",
    "audio-1.tar.gz": "7c369ff37ac6a1fdd8493fdffe62e0a1",
    "audio-2.tar.gz": "412241c063d7f196953d3dd1c44aeb5e",
    "audio-3.tar.gz": "d2a872392d95993a2c238d305b940812",
    "audio-4.tar.gz": "b15b0e0cb3f8584259ef0d24293a9be3",
    "audio-5.tar.gz": "de745f887067433757a2f2c8f99f99bb",
    "audio-6.tar.gz": "b0286c67468369d66336f6f5ddede31f",
    "audio-7.tar.gz": "ff300183ab7a9d3f2f74c3b730ffeb52",
    "audio-8.tar.gz": "7be76b821fa6dbe20f6b50ca440e1024",
    "audio-9.tar.gz": "959f7edfbb26eadad9865069f38aa9dd",
    "audio-10.tar.gz": "84e94de273666c537a3e6b709ee88d9b",
    "audio-11.tar.gz": "44fe1f43121a7d1178aa0cdf7477793b",
    "audio-12.tar.gz": "a7eb21011f460b5ac289f8e285e875ab",
    "audio-13.tar.gz": "27945a8b1008eec787f97213164951e6",
    "audio-14.tar.gz": "fb8c7d81c3bde3a0c86c1e55e6a85a24",
    "audio-15.tar.gz": "f6af9b65d876ef96d199b9e5f0473cb9",
    "audio-16.tar.gz": "e8337c61a90c30989d500f950fbe443a",
    "audio-17.tar.gz": "3e47e85eb4564a30fe7f442ee97ec7b9",
    "audio-18.tar.gz": "c6b2ef4d0d5b7269d465c469cdbbdc4b",
    "annotations.csv": "70b507b15bb4cfcce4870925302f276b",
    "dcase-ust-taxonomy.yaml": "6c1cca1c4c383a6ebb0cb71cb74fe3a9",
}

SONYC_UST_REMOTES: dict[int, tuple[RemoteFile, ...]] = {
    1: tuple(_zenodo(SONYC_UST_V1_RECORD, name, None) for name in _V1_FILES),
    2: tuple(_zenodo(SONYC_UST_V2_RECORD, name, md5) for name, md5 in _V2_MD5.items()),
}
"""The release files per SONYC-UST version (v2 means v2.3, the one with test-set ground truth)."""


def download_sonyc_ust(
    version: int,
    root: str | Path,
    base_url: str | None = None,
    files: list[RemoteFile] | None = None,
) -> Path:
    """Download and unpack SONYC-UST ``version`` (1 or 2) into ``root``; safe to re-run (it resumes / skips).

    Args:
        version: 1 (DCASE 2019 T5, Zenodo 2590742) or 2 (v2.3, Zenodo 3966543).
        root: destination folder (created if needed).
        base_url: fetch ``{base_url}/{filename}`` instead of the Zenodo URLs (a mirror, or a test server).
        files: the files to fetch instead of :data:`SONYC_UST_REMOTES` ``[version]``.

    Returns:
        ``root`` as a Path, ready for ``SonycUSTDataModule(root, version=version)``.
    """
    if files is None:
        if version not in SONYC_UST_REMOTES:
            raise ValueError(f"unknown SONYC-UST version {version!r}; available: {sorted(SONYC_UST_REMOTES)}")
        files = list(SONYC_UST_REMOTES[version])
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for remote in files:
        fetch_remote(remote, root, base_url)
    log.info("SONYC-UST v%s is ready in %s", version, root)
    return root


def fetch_remote(remote: RemoteFile, root: Path, base_url: str | None = None) -> None:
    """Download one release file into ``root`` (skipping what is already there) and unpack it if an archive."""
    target = root / remote.filename
    marker = root / f".{remote.filename}.extracted"
    if remote.is_archive and marker.exists():
        log.info("%s already unpacked (%s exists), skipping", remote.filename, marker.name)
        return
    url = remote.url if base_url is None else f"{base_url.rstrip('/')}/{remote.filename}"
    if not (target.is_file() and (remote.md5 is None or md5sum(target) == remote.md5)):
        log.info("downloading %s from %s", remote.filename, url)
        download_file(url, target, remote.md5)
    if remote.is_archive:
        extract_archive(target, root, strip=remote.strip)
        marker.write_text(f"{remote.md5 or 'unverified'}\n")
        target.unlink()


def download_file(url: str, dest: str | Path, md5: str | None = None) -> Path:
    """Fetch ``url`` to ``dest`` through ``dest.part``: resume, verify the md5, then rename atomically.

    Raises:
        ConnectionError: the server failed or the connection dropped (the ``.part`` file is kept; re-run to
            resume).
        ValueError: the md5 does not match (the ``.part`` file is deleted and ``dest`` is not written).
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    _fetch_into(url, part)
    _verify(part, md5, url)
    os.replace(part, dest)
    return dest


def _fetch_into(url: str, part: Path) -> None:
    """Append the rest of ``url`` to ``part`` (the whole body if it does not exist or the server ignores Range)."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "kdzoo-downloader", **({"Range": f"bytes={offset}-"} if offset else {})}
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # nothing left to send: the .part file is already complete
            return
        raise ConnectionError(f"download of {url} failed: HTTP {error.code} {error.reason}") from error
    except urllib.error.URLError as error:
        raise ConnectionError(f"cannot reach {url} ({error.reason}); check the network or base_url") from error
    with response:
        start = _resume_offset(response, offset, url)
        _copy_body(response, part, start, url)


def _resume_offset(response: http.client.HTTPResponse, offset: int, url: str) -> int:
    """Where the body starts in the file: ``offset`` for a matching 206 reply, 0 if the server sent it all."""
    if offset and response.status != 206:
        log.info("%s: the server ignored the Range request, downloading from the start", url)
        return 0
    content_range = response.headers.get("Content-Range", "")
    if offset and not content_range.startswith(f"bytes {offset}-"):
        raise ConnectionError(f"{url}: asked for bytes {offset}- but the server sent {content_range!r}")
    return offset


def _copy_body(response: http.client.HTTPResponse, part: Path, start: int, url: str) -> None:
    length = response.headers.get("Content-Length")
    total = start + int(length) if length is not None else None
    with part.open("ab" if start else "wb") as out, _progress_bar(part.name[: -len(".part")], total, start) as done:
        try:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                done(len(chunk))
        except OSError as error:
            raise ConnectionError(f"{url}: connection lost ({error}); re-run to resume from {part}") from error
    if total is not None and part.stat().st_size != total:
        raise ConnectionError(
            f"{url}: got {part.stat().st_size} of {total} bytes before the connection closed; re-run to resume"
        )


@contextmanager
def _progress_bar(name: str, total: int | None, completed: int) -> Iterator:
    """A rich transfer bar; yields ``advance(num_bytes)``."""
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, TimeRemainingColumn(), transient=True) as progress:
        task = progress.add_task(f"downloading {name}", total=total, completed=completed)
        yield lambda size: progress.advance(task, size)


def _verify(part: Path, md5: str | None, url: str) -> None:
    if md5 is None:
        log.warning("%s: no published checksum, the downloaded file is not verified", url)
        return
    actual = md5sum(part)
    if actual != md5:
        part.unlink()
        raise ValueError(
            f"{url}: md5 mismatch (expected {md5}, got {actual}); the corrupt download was deleted, run again "
            "(check base_url if you use a mirror)"
        )


def md5sum(path: str | Path) -> str:
    """md5 hex digest of a file, read in 1 MiB chunks (the release checksums are md5)."""
    digest = hashlib.md5(usedforsecurity=False)
    with Path(path).open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def extract_archive(archive: str | Path, dest: str | Path, strip: str | None = None) -> list[Path]:
    """Unpack a tar(.gz) or zip into ``dest`` after checking every member stays inside it.

    Args:
        strip: a leading folder dropped from member paths that start with it (``TAU-.../audio/x.wav`` ->
            ``audio/x.wav``); other members keep their paths.

    Raises:
        ValueError: a member is an absolute path, climbs out with ``..``, or is a link / device / fifo (none
            of which a release archive holds); nothing is extracted then.

    Returns:
        The paths of the regular files written.
    """
    archive, dest = Path(archive), Path(dest)
    if archive.name.endswith(".zip"):
        return _extract_zip(archive, dest, strip)
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, dest, archive)
                member.name = _stripped(member.name, strip)
            members = [m for m in members if m.name]
            tar.extractall(dest, members=members, filter="data")
    except tarfile.TarError as error:
        raise ValueError(f"{archive}: not a readable tar archive ({error}); delete it and download again") from error
    return [dest / member.name for member in members if member.isfile()]


def _stripped(name: str, strip: str | None) -> str:
    prefix = (strip or "").strip("/") + "/"
    return name[len(prefix):] if strip and name.startswith(prefix) else name


def _extract_zip(archive: Path, dest: Path, strip: str | None) -> list[Path]:
    """zipfile's own extractall sanitises names silently; here an unsafe member refuses the whole archive."""
    root = dest.resolve()
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = zipped.infolist()
            for member in members:
                mode = member.external_attr >> 16
                target = (root / member.filename).resolve()
                if stat.S_ISLNK(mode) or os.path.isabs(member.filename) or not target.is_relative_to(root):
                    raise ValueError(f"{archive}: refusing to extract {member.filename!r}: a link, or it would be "
                                     f"written outside {dest}")
            written = []
            for member in members:
                name = _stripped(member.filename, strip)
                if not name or member.is_dir():
                    continue
                target = root / name
                target.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(member) as source, target.open("wb") as out:
                    shutil.copyfileobj(source, out, CHUNK_BYTES)
                written.append(target)
    except zipfile.BadZipFile as error:
        raise ValueError(f"{archive}: not a readable zip archive ({error}); delete it and download again") from error
    return written


def _check_member(member: tarfile.TarInfo, dest: Path, archive: Path) -> None:
    if not (member.isfile() or member.isdir()):
        raise ValueError(f"{archive}: refusing to extract {member.name!r}: only regular files and folders are allowed")
    root = dest.resolve()
    target = (root / member.name).resolve()
    if os.path.isabs(member.name) or not target.is_relative_to(root):
        raise ValueError(f"{archive}: refusing to extract {member.name!r}: it would be written outside {dest}")


__all__ = [
    "SONYC_UST_REMOTES",
    "RemoteFile",
    "download_file",
    "download_sonyc_ust",
    "extract_archive",
    "fetch_remote",
    "md5sum",
]
