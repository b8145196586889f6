"""The CHiME-Home (refined) reader on a fixture in the published layout (tests/chime_layout.py)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from admlc_tf.data.layouts import chime_home
from admlc_tf.data.layouts.chime_home import LABELS, load_development, load_evaluation, split
from admlc_tf.errors import DataError
from tests.chime_layout import (DECOY_CHUNK, RAW_LISTS, SMALL_DEVELOPMENT, SMALL_EVALUATION,
                                SMALL_LABELS, small_layout)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """The small layout, shared read-only by this module's tests."""
    return small_layout(tmp_path_factory.mktemp("chime"))


def names(chunks):
    return [c.name for c in chunks]


def test_fixture_is_the_published_layout(home):
    assert home.name == "chime_home"
    crossval = (home / chime_home.CROSSVAL_LIST).read_text().splitlines()
    assert crossval[0] == "0,CR_lounge_200110_1601.s0_chunk0,0"  # id,chunkname,fold; no header
    assert len(crossval) == 10
    assert (home / chime_home.DEVELOPMENT_LIST).read_text().splitlines()[1] == \
        "1,CR_kitchen_200111_0932.s1_chunk0"
    assert len((home / chime_home.EVALUATION_LIST).read_text().splitlines()) == 4
    info = sf.info(str(home / "chunks" / "CR_lounge_200110_1601.s0_chunk0.16kHz.wav"))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (16000, 1, 64000, "PCM_16")
    assert sf.info(str(home / "chunks" / "CR_lounge_200110_1601.s0_chunk0.48kHz.wav")).samplerate \
        == 48000
    fields = chime_home.read_chunk_csv(home / "chunks" / "CR_kitchen_200111_0932.s1_chunk1.csv")
    assert fields["segmentname"] == "CR_kitchen_200111_0932.s1"
    assert fields["chunknumber"] == "1"
    assert fields["majorityvote"] == "cSp"
    assert fields["annotation_a3"] != fields["majorityvote"]
    assert fields["notes"] == "door, then a cough"  # a quoted value with a comma survives


def test_fixture_audio_is_deterministic(tmp_path):
    a = small_layout(tmp_path / "a")
    b = small_layout(tmp_path / "b")
    wav = "chunks/CR_dining_200113_1244.s2_chunk1.16kHz.wav"
    assert (a / wav).read_bytes() == (b / wav).read_bytes()
    c = small_layout(tmp_path / "c", seed=1)
    assert (a / wav).read_bytes() != (c / wav).read_bytes()


def test_label_order():
    assert LABELS == ("c", "m", "f", "v", "p", "b", "o")


def test_label_vectors_follow_the_majority_vote(home):
    votes = {name: vote for name, vote, _ in SMALL_DEVELOPMENT}
    votes.update(SMALL_EVALUATION)
    chunks = load_development(home) + load_evaluation(home)
    assert len(chunks) == 14
    for chunk in chunks:
        assert chunk.labels.dtype == np.float32
        assert chunk.labels.shape == (len(LABELS),)
        np.testing.assert_array_equal(chunk.labels, SMALL_LABELS[votes[chunk.name]],
                                      err_msg=chunk.name)


def test_s_and_u_are_dropped(home):
    by_name = {c.name: c for c in load_development(home) + load_evaluation(home)}
    s_only = by_name["CR_lounge_200110_1601.s0_chunk1"]  # vote "S"
    np.testing.assert_array_equal(s_only.labels, np.zeros(7))
    np.testing.assert_array_equal(by_name["CR_kitchen_200111_0932.s1_chunk1"].labels,  # "cSp"
                                  by_name["CR_lounge_200110_1601.s0_chunk0"].labels)    # "cp"
    np.testing.assert_array_equal(by_name["CR_dining_200113_1244.s2_chunk1"].labels,    # "pU"
                                  [0, 0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(chime_home.labels_from_vote("SU", home), np.zeros(7))
    np.testing.assert_array_equal(chime_home.labels_from_vote("", home), np.zeros(7))


def test_unknown_annotation_keys_are_ignored(tmp_path, home):
    plain = small_layout(tmp_path, extra_keys=False)
    assert "notes" not in chime_home.read_chunk_csv(
        plain / "chunks" / "CR_lounge_200110_1601.s0_chunk0.csv")
    for a, b in zip(load_development(home) + load_evaluation(home),
                    load_development(plain) + load_evaluation(plain)):
        assert (a.name, a.fold) == (b.name, b.fold)
        np.testing.assert_array_equal(a.labels, b.labels)


def test_folds_are_one_based_and_shared_by_a_segment(home):
    development = load_development(home)
    assert names(development) == [name for name, _, _ in SMALL_DEVELOPMENT]  # list order
    assert [c.fold for c in development] == [fold + 1 for _, _, fold in SMALL_DEVELOPMENT]
    assert sorted({c.fold for c in development}) == [1, 2, 3, 4, 5]
    folds_of_segment = {}
    for chunk in development:
        folds_of_segment.setdefault(chunk.segment, set()).add(chunk.fold)
    assert len(folds_of_segment) == 5
    assert all(len(folds) == 1 for folds in folds_of_segment.values())


def test_segment_is_the_name_up_to_chunk(home):
    chunk = load_development(home)[1]
    assert chunk.name == "CR_kitchen_200111_0932.s1_chunk0"
    assert chunk.segment == "CR_kitchen_200111_0932.s1"


def test_wav_paths_are_the_16khz_files(home):
    for chunk in load_development(home) + load_evaluation(home):
        assert chunk.wav_path == home / "chunks" / f"{chunk.name}.16kHz.wav"
        assert chunk.wav_path.is_file()
    # The 48 kHz sibling exists for one chunk only: asking for 48 kHz files finds the others
    # missing, so the 16 kHz default cannot have picked it up by accident.
    with pytest.raises(DataError, match=r"48kHz\.wav is missing"):
        load_development(home, sample_rate=48000)


@pytest.mark.parametrize("fold", [1, 2, 3, 4, 5, "3"])
def test_split_fold_holds_out_that_fold(home, fold):
    development = load_development(home)
    train, test = split(home, fold=fold)
    k = int(fold)
    assert names(test) == [c.name for c in development if c.fold == k]
    assert names(train) == [c.name for c in development if c.fold != k]
    assert len(test) == 2 and len(train) == 8
    assert not set(names(train)) & set(names(test))
    assert {c.fold for c in test} == {k}
    assert not {c.segment for c in train} & {c.segment for c in test}


def test_split_all_is_development_then_evaluation(home):
    train, test = split(home, fold="all")
    assert names(train) == [name for name, _, _ in SMALL_DEVELOPMENT]
    assert names(test) == [name for name, _ in SMALL_EVALUATION]
    assert all(c.fold is None for c in test)
    assert not set(names(train)) & set(names(test))


@pytest.mark.parametrize("fold", [0, 6, "-1"])
def test_split_rejects_unknown_folds(home, fold):
    with pytest.raises(DataError, match="use 1..5 or all"):
        split(home, fold=fold)


def test_resolve_root_accepts_the_folder_and_its_parent(home):
    assert chime_home.resolve_root(home) == home
    assert chime_home.resolve_root(home.parent) == home
    assert chime_home.resolve_root(str(home.parent)) == home
    assert names(load_development(home.parent)) == names(load_development(home))
    assert names(split(str(home.parent), "all")[1]) == names(load_evaluation(home))


def test_resolve_root_rejects_other_folders(home, tmp_path):
    with pytest.raises(DataError, match="chime_home"):
        chime_home.resolve_root(home / "chunks")
    with pytest.raises(DataError, match="does not exist"):
        chime_home.resolve_root(tmp_path / "nowhere")


def test_raw_lists_are_ignored(home):
    # The decoys name a chunk with no files: reading any of them would fail.
    for raw in RAW_LISTS:
        assert DECOY_CHUNK in (home / raw).read_text()
    assert not list(home.glob(f"chunks/{DECOY_CHUNK}*"))
    assert names(load_evaluation(home)) == [name for name, _ in SMALL_EVALUATION]
    assert names(load_development(home)) == [name for name, _, _ in SMALL_DEVELOPMENT]
