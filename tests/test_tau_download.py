"""TAU Urban Acoustic Scenes download against a loopback server holding a tiny release in the real zip layout."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from test_download import Release, no_remote_hosts, server, wav_bytes  # noqa: F401 (fixtures)

from kdzoo.data.download import RemoteFile
from kdzoo.data.tau import TAU_FOLDER, TAUUrbanAcousticScenesDataModule, download_tau, tau_remotes

SCENE_FILES = [("airport", "a"), ("bus", "b"), ("park", "s4"), ("tram", "a")]


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr(f"{TAU_FOLDER}/", b"")  # the top folder entry, as the release zips hold
        for name, data in members.items():
            zipped.writestr(f"{TAU_FOLDER}/{name}", data)
    return buffer.getvalue()


def tiny_release() -> dict[str, bytes]:
    """audio.1.zip (4 clips), meta.zip (meta.csv + evaluation_setup/), a split25.csv, all under the real names."""
    names = [f"audio/{scene}-lyon-{i}-{i}0-0-{device}.wav" for i, (scene, device) in enumerate(SCENE_FILES)]
    meta = "filename\tscene_label\tidentifier\tsource_label\n" + "".join(
        f"{n}\t{s}\tlyon-{i}\t{d}\n" for i, (n, (s, d)) in enumerate(zip(names, SCENE_FILES, strict=True)))
    table = lambda rows: "filename\tscene_label\n" + "".join(f"{names[i]}\t{SCENE_FILES[i][0]}\n" for i in rows)  # noqa: E731
    return {
        f"{TAU_FOLDER}.audio.1.zip": zip_bytes({n: wav_bytes(1.0, 440 + 100 * i) for i, n in enumerate(names)}),
        f"{TAU_FOLDER}.meta.zip": zip_bytes({"meta.csv": meta.encode(),
                                             "evaluation_setup/fold1_train.csv": table([0, 1]).encode(),
                                             "evaluation_setup/fold1_evaluate.csv": table([2, 3]).encode()}),
        "split25.csv": table([0]).encode(),
    }


def remotes(files: dict[str, bytes], wrong: str | None = None) -> list[RemoteFile]:
    md5 = lambda name: "0" * 32 if name == wrong else hashlib.md5(files[name]).hexdigest()  # noqa: E731
    return [RemoteFile(name, f"https://example.invalid/{name}", md5(name), strip=TAU_FOLDER) for name in files]


def test_the_release_list_names_every_zip_with_an_md5() -> None:
    files = tau_remotes()
    zips = [f for f in files if f.filename.endswith(".zip")]
    assert len(zips) == 18 and all(len(f.md5) == 32 for f in zips)  # 16 audio zips, meta, doc
    assert all(f.url.startswith("https://zenodo.org/records/6337421/files/TAU-urban-acoustic-scenes-2022-mobile-"
                                "development.") for f in zips)
    assert {f.filename for f in files if f.md5 is None} == {f"split{n}.csv" for n in (5, 10, 25, 50, 100)}


def test_download_resumes_verifies_and_unpacks_into_the_data_module_layout(server, tmp_path: Path) -> None:  # noqa: F811
    files = tiny_release()
    release = Release(files)
    url = server(release)
    root = tmp_path / "tau"
    root.mkdir()
    audio_zip = f"{TAU_FOLDER}.audio.1.zip"
    (root / f"{audio_zip}.part").write_bytes(files[audio_zip][:100])  # an interrupted earlier run
    download_tau(root, base_url=url, files=remotes(files))
    assert (audio_zip, "bytes=100-") in release.requests  # resumed from the partial file
    assert not list(root.glob("*.zip")) and not list(root.glob("*.part"))  # zips unpacked, then removed
    assert not (root / TAU_FOLDER).exists()  # the top folder is dropped: root is the data module's root
    dm = TAUUrbanAcousticScenesDataModule(str(root), subset=25, val_fraction=0, sample_rate=8000)
    assert [c.device for c in dm.clips("test")] == ["s4", "a"] and len(dm.clips("train")) == 1
    sent = release.bytes_sent
    download_tau(root, base_url=url, files=remotes(files))  # a second run: markers and files are there
    assert release.bytes_sent == sent


def test_a_wrong_checksum_fails_naming_the_file(server, tmp_path: Path) -> None:  # noqa: F811
    files = tiny_release()
    url = server(Release(files))
    meta_zip = f"{TAU_FOLDER}.meta.zip"
    with pytest.raises(ValueError, match=rf"{meta_zip}: md5 mismatch \(expected 0{{32}}, got [0-9a-f]{{32}}\)"):
        download_tau(tmp_path, base_url=url, files=remotes(files, wrong=meta_zip))
    assert not (tmp_path / meta_zip).exists() and not (tmp_path / f"{meta_zip}.part").exists()
    assert not (tmp_path / "meta.csv").exists()  # nothing from the corrupt archive was unpacked


def test_a_zip_member_escaping_the_root_is_refused(tmp_path: Path) -> None:
    from kdzoo.data.download import extract_archive

    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("ok.txt", b"fine")
        zipped.writestr("../escape.txt", b"bad")
    with pytest.raises(ValueError, match=r"evil.zip: refusing to extract '../escape.txt'"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out" / "ok.txt").exists()
