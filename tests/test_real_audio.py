"""Smoke test of `benchmarks/real_audio.py` (issue #17) without the network: the mixing, the
dev/eval separation, byte reproducibility, the labels.csv layout and the baseline run on
stand-in sources generated here (`synthetic_sources`), never on downloaded packages."""

from __future__ import annotations

import csv
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from admlc_tf.data.layouts.labels_csv import read_labels_csv
from admlc_tf.errors import DataError
from benchmarks import real_audio as ra


def _digest(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _events(folder: Path) -> list[dict]:
    with open(folder / "events.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def sources():
    return ra.synthetic_sources(n_files=3, seed=1)


def test_same_seed_same_bytes_and_another_seed_differs(tmp_path, sources):
    """Fails if the mix draws from an unseeded generator, depends on iteration order of a set,
    or writes anything run-dependent (a time, an absolute path) into the folder; and if the seed
    is ignored."""
    a = ra.write_set(tmp_path / "a", sources, seed=3, n_dev=12, n_eval=6)
    b = ra.write_set(tmp_path / "b", sources, seed=3, n_dev=12, n_eval=6)
    c = ra.write_set(tmp_path / "c", sources, seed=4, n_dev=12, n_eval=6)
    assert _digest(a) == _digest(b)
    assert len(_digest(a)) == 12 + 6 + 3  # clips, labels.csv, events.csv, manifest.json
    assert _digest(a)["labels.csv"] != _digest(c)["labels.csv"] or \
        _digest(a)["audio/dev_0000.wav"] != _digest(c)["audio/dev_0000.wav"]


def test_layout_splits_and_disjoint_recordings(tmp_path, sources):
    """Fails if labels.csv is not what admlc_tf's csv reader accepts, if a test clip uses a
    development recording (or the reverse), if a clip's labels disagree with the events mixed
    into it, or if the clips are not 4 s 16 kHz mono 16-bit WAV with sound in them."""
    folder = ra.write_set(tmp_path / "set", sources, seed=0, n_dev=20, n_eval=8)
    collection = read_labels_csv(folder / "labels.csv")
    splits = [c.split for c in collection.clips]
    assert splits.count("test") == 8 and splits.count("val") == 4 and splits.count("train") == 16
    part_of = {(s.label, s.source): s.part for s in sources}
    events = _events(folder)
    for clip in collection.clips:
        mine = [e for e in events if e["file"] == clip.name]
        want_part = "eval" if clip.split == "test" else "dev"
        assert {part_of[(e["label"], e["recording"])] for e in mine} == {want_part}
        assert sorted({e["label"] for e in mine}) == sorted(clip.labels)
        assert 1 <= len(clip.labels) <= 3 and set(clip.labels) <= set(ra.LABELS)
        info = sf.info(str(clip.path))
        assert (info.samplerate, info.channels, info.frames, info.subtype) == \
            (16000, 1, 64000, "PCM_16")
        audio, _ = sf.read(str(clip.path))
        assert np.max(np.abs(audio)) > 0.001
    used = {p: {e["recording"] for e in events
                if (e["file"].startswith("audio/eval")) == (p == "eval")} for p in ra.PARTS}
    assert used["dev"] and used["eval"] and not used["dev"] & used["eval"]


def test_shared_recording_and_existing_folder_are_refused(tmp_path, sources):
    """Fails if a recording listed in both parts slips through (the benchmark's point), or if
    a refused build leaves a half-written or staging folder behind."""
    leak = ra.SourceSet(sources[0].label, sources[0].source, "eval", sources[0].files,
                        sources[0].sounds)
    with pytest.raises(ValueError, match="share"):
        ra.write_set(tmp_path / "x", [*sources, leak], seed=0, n_dev=6, n_eval=2)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="--overwrite"):
        ra.write_set(tmp_path / "full", sources, seed=0, n_dev=6, n_eval=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_gus_patch_reader(tmp_path):
    """Fails if the patch header offsets, the 16-bit decoding or the loop points (bytes ->
    samples) are off: the FreePats instruments are read with this."""
    wave = (np.sin(np.arange(400) / 5) * 20000).astype("<i2")
    header = bytearray(239)
    header[:22] = b"GF1PATCH110\0ID#000002\0"
    header[198] = 1
    sample = bytearray(96)
    struct.pack_into("<iii", sample, 8, wave.nbytes, 100 * 2, 300 * 2)
    struct.pack_into("<H", sample, 20, 22050)
    sample[55] = 1 | 4  # 16-bit signed, looped
    path = tmp_path / "x.pat"
    path.write_bytes(bytes(header) + bytes(sample) + wave.tobytes())
    [(x, rate, loop)] = ra.read_gus_patch(path)
    assert rate == 22050 and loop == (100, 300)
    np.testing.assert_allclose(x, wave / 32768.0, atol=1e-6)
    held = ra._sustain(x, rate, loop)
    assert len(held) == int(1.2 * rate)
    np.testing.assert_array_equal(held[300:500], x[100:300])


def test_baseline_scores_the_test_split(tmp_path, sources, capsys):
    """Fails if the baseline fits on the test clips' labels, scores another split, or its
    features do not separate labels at all (synthetic labels are distinct timbres, so a
    working pipeline is far better than chance)."""
    folder = ra.write_set(tmp_path / "set", sources, seed=0, n_dev=40, n_eval=16)
    result = ra.baseline(str(folder), seeds=[0, 1], json_path=str(tmp_path / "b.json"))
    report = result["runs"][0]["test"]
    assert report["split"] == "test" and report["n_clips"] == 16
    assert result["n_train"] + result["n_val"] == 40
    assert result["deterministic"]
    assert report["mean_eer"] is not None and report["mean_eer"] < 0.4
    assert "logistic regression on test" in capsys.readouterr().out


def _chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def test_soundfont_reader_follows_preset_to_samples(tmp_path):
    """Fails if the preset -> instrument -> sample chain is followed wrongly (another program's
    samples, the right channel of a stereo pair kept) or sample offsets and loops are misread:
    the FluidR3 instruments are read with this."""
    waves = [np.full(50, v, "<i2") for v in (1000, 2000, 3000)]
    smpl = b"".join(w.tobytes() for w in waves) + bytes(92)
    name = lambda s: s.encode().ljust(20, b"\0")  # noqa: E731
    # Program 5 -> instrument 1 -> samples 1 (left) and 2 (right); program 0 -> instrument 0 ->
    # sample 0.
    phdr = b"".join(struct.pack("<20sHHHIII", name(n), prog, 0, bag, 0, 0, 0)
                    for n, prog, bag in (("zero", 0, 0), ("five", 5, 1), ("EOP", 0, 2)))
    pbag = b"".join(struct.pack("<HH", g, 0) for g in (0, 1, 2))
    pgen = struct.pack("<HH", 41, 0) + struct.pack("<HH", 41, 1) + struct.pack("<HH", 0, 0)
    inst = b"".join(struct.pack("<20sH", name(n), bag) for n, bag in (("i0", 0), ("i1", 1),
                                                                      ("EOI", 3)))
    ibag = b"".join(struct.pack("<HH", g, 0) for g in (0, 1, 2, 3))
    igen = b"".join(struct.pack("<HH", 53, s) for s in (0, 1, 2)) + struct.pack("<HH", 0, 0)
    shdr = b"".join(struct.pack("<20sIIIIIBbHH", name(n), 50 * i, 50 * i + 50, 50 * i + 10,
                                50 * i + 40, 22050, 60, 0, 0, kind)
                    for i, (n, kind) in enumerate((("a", 1), ("b-left", 4), ("b-right", 2))))
    shdr += struct.pack("<20sIIIIIBbHH", name("EOS"), 0, 0, 0, 0, 0, 0, 0, 0, 0)
    pdta = b"pdta" + b"".join(_chunk(c, b) for c, b in (
        (b"phdr", phdr), (b"pbag", pbag), (b"pgen", pgen), (b"inst", inst), (b"ibag", ibag),
        (b"igen", igen), (b"shdr", shdr)))
    body = b"sfbk" + _chunk(b"LIST", b"sdta" + _chunk(b"smpl", smpl)) + _chunk(b"LIST", pdta)
    path = tmp_path / "x.sf2"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    [(sample, x, rate, loop)] = ra.read_soundfont(path, 5)
    assert (sample, rate, loop) == ("b-left", 22050, (10, 40))
    np.testing.assert_allclose(x, 2000 / 32768)
    [(sample, x, _, _)] = ra.read_soundfont(path, 0)
    assert sample == "a" and np.allclose(x, 1000 / 32768)


def test_build_reuses_a_matching_set_and_refuses_another(tmp_path, sources, monkeypatch):
    """Fails if `build` re-fetches or rewrites a complete set made with the same settings
    (scripts call it on every run), or silently reuses one made with other settings."""
    def no_fetch(**_):
        raise AssertionError("fetched sources for a set that was already there")

    monkeypatch.setattr(ra, "load_sources", no_fetch)
    folder = ra.write_set(tmp_path / "set", sources, seed=2, n_dev=8, n_eval=4, extra_manifest={
        "n_dev": 8, "n_eval": 4, "tiny": True})
    before = _digest(folder)
    assert ra.build(str(folder), seed=2, n_dev=8, n_eval=4, tiny=True) == folder
    assert _digest(folder) == before
    assert ra.describe(folder)["clips"] == {"train": 6, "val": 2, "test": 4}
    with pytest.raises(DataError, match="--overwrite"):
        ra.build(str(folder), seed=3, n_dev=8, n_eval=4, tiny=True)
    assert _digest(folder) == before
