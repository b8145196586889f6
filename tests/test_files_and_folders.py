"""Files and folders as users have them (issue #24, item 5): broken links, unreadable files,
folders of 10,000 files, names with newlines or bytes that are not UTF-8. predict.py and the
layouts name each file they skip or refuse on one line and go on with the rest."""

from __future__ import annotations

import builtins
import csv
import errno
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from admlc_tf.data.layouts.labels_csv import read_labels_csv
from admlc_tf.errors import DataError, printable
from admlc_tf.files import find_files
from admlc_tf.serving.audio import AUDIO_SUFFIXES, find_audio
from tests.test_faults import audio_export  # noqa: F401  (the tiny audio export fixture)

AS_ROOT = os.geteuid() == 0  # permissions do not bind root (CI runs as root)
NOT_UTF8 = os.fsdecode(b"caf\xe9.wav")  # Latin-1 bytes, as an old archive names files


@pytest.fixture
def lock(monkeypatch):
    """`lock(path)` makes a file or folder unreadable: chmod 000, and for root, whom modes do
    not bind, opening or listing it fails as it does for anyone else (EACCES), so these tests
    test the same thing as root and not. The modes are restored after the test."""
    locked: list[Path] = []

    def is_locked(path) -> bool:
        return (isinstance(path, (str, bytes, os.PathLike))
                and Path(os.fsdecode(path)).absolute() in locked)

    def guard(real):
        def guarded(path, *args, **kwargs):
            if is_locked(path):
                raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))
            return real(path, *args, **kwargs)
        return guarded

    if AS_ROOT:
        monkeypatch.setattr(builtins, "open", guard(builtins.open))
        monkeypatch.setattr(os, "scandir", guard(os.scandir))

    def lock_path(path: Path) -> None:
        locked.append(Path(path).absolute())
        os.chmod(path, 0)

    yield lock_path
    for path in locked:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def write_wav(path: Path, seconds: float = 1.0, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:  # by handle: soundfile cannot take every name as a path
        soundfile.write(f, (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32),
                        16000, format="WAV")
    return path


def test_printable_escapes_what_would_break_a_line():
    """Would fail if a newline or an undecodable byte of a name reached a one-line message as
    is (the message would split, or stdout would raise UnicodeEncodeError)."""
    assert printable("a\nb.wav") == "a\\nb.wav"
    assert printable(NOT_UTF8) == "caf\\xe9.wav"
    assert printable("tab\there, café") == "tab\\there, café"
    assert str(DataError(f"audio file x/{NOT_UTF8}\n is bad")) == "audio file x/caf\\xe9.wav\\n is bad"


def test_predict_names_each_bad_file_once_and_tags_the_rest(audio_export, tmp_path, capsys):  # noqa: F811
    """A folder with good clips named plainly, with a newline and in Latin-1 bytes, beside a
    broken link and an empty file: the three clips are tagged (CSV, JSON, table), each bad file
    is one stderr line naming it, exit 1. Fails if a non-UTF-8 name cannot be decoded by
    soundfile (it took paths as UTF-8), if a newline splits a line, or if printing such a name
    raises."""
    import predict

    folder = tmp_path / "clips"
    folder.mkdir()
    for i, name in enumerate(("plain.wav", "two\nlines.wav", NOT_UTF8)):
        write_wav(folder / name, seed=i)
    (folder / "gone.wav").symlink_to(tmp_path / "nowhere.wav")
    (folder / "empty.wav").write_bytes(b"")
    capsys.readouterr()
    code = predict.main(["--model", str(audio_export), str(folder), "--csv",
                         str(tmp_path / "tags.csv"), "--json", str(tmp_path / "tags.json"),
                         "--quiet"])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    tagged = {printable(str(folder / n)) for n in ("plain.wav", "two\nlines.wav", NOT_UTF8)}
    rows = list(csv.DictReader((tmp_path / "tags.csv").open(encoding="utf-8")))
    assert {r["file"] for r in rows} == tagged
    written = json.loads((tmp_path / "tags.json").read_text())
    assert {f["file"] for f in written["files"]} == tagged
    assert [f["file"] for f in written["errors"]] == [str(folder / "empty.wav")]
    lines = captured.err.splitlines()
    assert [line for line in lines if "gone.wav" in line] == [
        f"skipped {folder / 'gone.wav'}: a symbolic link to {tmp_path / 'nowhere.wav'}, which "
        "does not exist (restore its target or remove the link)"]
    assert len([line for line in lines if "empty.wav" in line]) == 1
    assert "lines.wav" in captured.out and "two\\nlines.wav" in captured.out
    assert "caf\\xe9.wav" in captured.out


def test_an_unreadable_file_and_folder_are_one_line_each(audio_export, tmp_path, capsys,  # noqa: F811
                                                         lock):
    """chmod 000 on a clip and on a subfolder: the clip is one `error:` line (permissions, not
    "corrupt"), the subfolder one `skipped` line, the readable clip is tagged, exit 1. Fails on
    a PermissionError traceback, or a subfolder skipped in silence."""
    import predict

    folder = tmp_path / "clips"
    (folder / "locked").mkdir(parents=True)
    write_wav(folder / "ok.wav")
    write_wav(folder / "locked.wav")
    write_wav(folder / "locked" / "inside.wav")
    lock(folder / "locked.wav")
    lock(folder / "locked")
    capsys.readouterr()
    code = predict.main(["--model", str(audio_export), str(folder), "--quiet"])
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert [line for line in err if "locked.wav" in line] == [
        f"error: audio file {folder / 'locked.wav'} cannot be opened (Permission denied): check "
        "its permissions, or remove it from the list"]
    assert [line for line in err if line.startswith(f"skipped {folder / 'locked'}")] == [
        f"skipped {folder / 'locked'}: it cannot be listed (Permission denied; check its "
        "permissions)"]


def test_a_folder_of_10000_files_is_listed_quickly(tmp_path, capsys):
    """10,000 files (audio among other kinds) and 100 broken links: listed in seconds at most,
    sorted, and each broken link is one line. Fails if listing is
    quadratic (a stat of every file per file) or if skipped links are not said."""
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(10_000):
        (folder / f"{i:05d}.{'wav' if i % 2 else 'txt'}").touch()
    for i in range(100):
        (folder / f"gone{i:03d}.wav").symlink_to(folder / f"nowhere{i}.wav")
    capsys.readouterr()
    start = time.perf_counter()
    found = find_audio([folder])
    elapsed = time.perf_counter() - start
    # ~0.1 s on an idle core; the bound leaves room for a loaded machine, not for a quadratic
    # listing (10^8 stats: minutes).
    assert elapsed < 30, f"{elapsed:.1f} s to list 10,100 entries"
    assert len(found) == 5_000 and found == sorted(found)
    skipped = capsys.readouterr().err.splitlines()
    assert len(skipped) == 100 and all(line.startswith("skipped ") for line in skipped)


@pytest.mark.slow
def test_predict_on_a_folder_of_10000_empty_files_names_each_and_goes_on(audio_export,  # noqa: F811
                                                                          tmp_path, capsys):
    """10,000 empty `.wav` files and one clip: the clip is tagged, each empty file is one
    `error:` line, the last line counts them, exit 1, in bounded time. Fails if one bad file
    stops the batch or the lines run together."""
    import predict

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(10_000):
        (folder / f"{i:05d}.wav").touch()
    write_wav(folder / "real.wav")
    capsys.readouterr()
    start = time.perf_counter()
    code = predict.main(["--model", str(audio_export), str(folder), "--csv",
                         str(tmp_path / "tags.csv"), "--quiet"])
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err.splitlines()
    assert code == 1 and elapsed < 120
    assert len([line for line in err if line.startswith("error: audio file ")]) == 10_000
    assert err[-1] == ("error: 10000 of 10001 file(s) could not be read (listed above); the "
                       "others were tagged")
    rows = list(csv.DictReader((tmp_path / "tags.csv").open()))
    assert [Path(r["file"]).name for r in rows] == ["real.wav"]


def test_find_files_named_directly_are_kept_in_order(tmp_path):
    """Files named on the command line come first, in argument order, whatever their suffix.
    Fails if the os.walk listing reorders or filters named files."""
    a, b = tmp_path / "z.WAV", tmp_path / "a.flac"
    a.touch()
    b.touch()
    assert find_files([a, b], AUDIO_SUFFIXES, "audio") == [a, b]


class TestLayouts:
    def folder(self, tmp_path: Path, listed: str) -> Path:
        (tmp_path / "audio").mkdir()
        write_wav(tmp_path / "audio" / "a.wav")
        write_wav(tmp_path / "audio" / "b.wav", seed=1)
        (tmp_path / "labels.csv").write_text(f"file,labels\naudio/a.wav,x\n{listed},y\n",
                                             encoding="utf-8")
        return tmp_path / "labels.csv"

    def test_a_listed_broken_link_is_refused_naming_it(self, tmp_path):
        """The link and its missing target in one line. Fails if it reads as a plain missing
        file (the user sees the link there and is puzzled) or raises past DataError."""
        labels = self.folder(tmp_path, "audio/link.wav")
        (tmp_path / "audio" / "link.wav").symlink_to(tmp_path / "moved" / "b.wav")
        with pytest.raises(DataError) as caught:
            read_labels_csv(labels)
        assert str(caught.value) == (
            f"{labels}:3: audio file {tmp_path / 'audio' / 'link.wav'} is a symbolic link to "
            f"{tmp_path / 'moved' / 'b.wav'}, which does not exist: restore its target or remove "
            "the line")

    def test_a_listed_name_with_a_newline_is_one_escaped_line(self, tmp_path):
        """A quoted CSV cell may hold a newline; the refusal stays one line. Fails if the
        message carries the raw newline (two lines on stderr, the second without `error:`)."""
        labels = self.folder(tmp_path, '"audio/two\nlines.wav"')
        with pytest.raises(DataError) as caught:
            read_labels_csv(labels)
        message = str(caught.value)
        assert "\n" not in message and "audio/two\\nlines.wav" in message
        assert "does not exist" in message

    def test_a_listed_file_with_a_newline_is_read(self, tmp_path):
        """A file that is there under such a name is read like any other. Fails if names are
        split or stripped at the newline."""
        labels = self.folder(tmp_path, '"audio/two\nlines.wav"')
        write_wav(tmp_path / "audio" / "two\nlines.wav")
        names = [c.name for c in read_labels_csv(labels).clips]
        assert names == ["audio/a.wav", "audio/two\nlines.wav"]

    def test_an_unreadable_listed_file_is_one_line_when_read(self, tmp_path, lock):
        """Reading an unreadable listed clip for its features: one line saying permissions.
        Fails on PermissionError from the WAV header check."""
        from admlc_tf.features import read_audio

        path = write_wav(tmp_path / "locked.wav")
        lock(path)
        with pytest.raises(DataError, match="cannot be opened \\(Permission denied\\)"):
            read_audio(path, sample_rate=16000)

    def test_non_utf8_audio_is_read_for_features(self, tmp_path):
        """Training reads a clip whose name is Latin-1 bytes. Fails when soundfile is given
        the name (UnicodeEncodeError became "cannot be decoded")."""
        from admlc_tf.features import read_audio

        path = write_wav(tmp_path / NOT_UTF8, seconds=0.25)
        assert read_audio(path, sample_rate=16000).shape == (4000,)


def test_an_unreadable_clip_is_one_line_even_as_root(tmp_path, monkeypatch):
    """The chmod tests skip as root; here the open itself is refused as permissions refuse it
    (EACCES), so the path through `open_audio` is tested everywhere. Fails if PermissionError
    escapes, or is reported as an undecodable file."""
    from admlc_tf import features

    path = write_wav(tmp_path / "locked.wav", seconds=0.1)

    def refused(file, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(features, "open", refused, raising=False)
    with pytest.raises(DataError) as caught:
        features.read_audio(path, sample_rate=16000)
    assert str(caught.value) == (f"audio file {path} cannot be opened (Permission denied): "
                                 "check its permissions, or remove it from the list")
