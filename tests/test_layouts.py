"""Data set layouts (FSD50K, DESED, labels.csv): reading, detection, splits and vocabulary.

Fixtures are tiny folders in each published layout with a few hundred samples of silence per
WAV; nothing here extracts features or needs TensorFlow.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from admlc_tf.data.layouts import chime_home
from admlc_tf.data.layouts.collection import (Clip, Collection, assign_splits, check_assignment,
                                              choose_vocabulary, label_matrix, read_splits,
                                              write_splits)
from admlc_tf.data.layouts.desed import read_desed
from admlc_tf.data.layouts.fsd50k import read_fsd50k
from admlc_tf.data.layouts.labels_csv import read_labels_csv
from admlc_tf.data.layouts.registry import LAYOUTS, detect_layout, load_collection
from admlc_tf.errors import DataError

# The "what to do" half of every message uses one of these verbs.
ADVICE = re.compile(r"\b(restore|fix|fill|remove|replace|add|use|pass|list|leave|delete|point|set|"
                    r"mark|unpack|check|save)\b")


def write_wav(path: Path, samples: int = 300) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(samples, dtype=np.float32), 16000)
    return path


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


def csv_folder(folder: Path, text: str, audio=("a.wav", "b.wav")) -> Path:
    """A labels.csv folder: `text` is the csv, `audio` the WAVs to create."""
    for name in audio:
        write_wav(folder / name)
    return write_text(folder / "labels.csv", text)


def fsd50k_folder(root: Path) -> Path:
    truth = root / "FSD50K.ground_truth"
    # Rows out of index order: the vocabulary must follow the index, not the row order.
    write_text(truth / "vocabulary.csv",
               "2,Accordion,/m/0mkg\n0,Speech,/m/09x0r\n1,Dog_bark,/m/05tny_\n")
    write_text(truth / "dev.csv", 'fname,labels,mids,split\n'
               '64760,"Dog_bark,Speech","/m/05tny_,/m/09x0r",train\n'
               '16399,Speech,/m/09x0r,train\n'
               '1234,Accordion,/m/0mkg,val\n')
    write_text(truth / "eval.csv",
               'fname,labels,mids\n37199,"Speech,Accordion","/m/09x0r,/m/0mkg"\n')
    for name in ("FSD50K.dev_audio/64760.wav", "FSD50K.dev_audio/16399.wav",
                 "FSD50K.dev_audio/1234.wav", "FSD50K.eval_audio/37199.wav"):
        write_wav(root / name)
    return root


def desed_folder(root: Path) -> Path:
    write_text(root / "metadata/train/weak.tsv", "filename\tevent_labels\n"
               "Y0a1.wav\tAlarm_bell_ringing,Dog\n"
               "Y b2.wav\tSpeech\n")
    write_wav(root / "audio/train/weak/Y0a1.wav")
    write_wav(root / "audio/train/weak/Y b2.wav")
    return root


def synthetic(n: int = 60, seed: int = 0, **fields) -> Collection:
    """A collection of `n` clips with random labels (no files: splits never open them)."""
    rng = np.random.default_rng(seed)
    names = ("Dog bark", "door_knock", "Speech", "Music")
    clips = []
    for i in range(n):
        labels = tuple(name for name in names if rng.random() < 0.4) or (names[i % 4],)
        clips.append(Clip(f"clip {i}.wav", Path(f"/x/clip {i}.wav"), labels,
                          **{key: value(i) for key, value in fields.items()}))
    return Collection(Path("/x"), "csv", clips, source=Path("/x/labels.csv"))


def assert_one_line_error(call, file, pattern: str) -> str:
    with pytest.raises(DataError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message, message
    assert str(file) in message, message
    assert re.search(pattern, message), message
    assert ADVICE.search(message.split(":", 1)[1]), message
    return message


# --- readers ---------------------------------------------------------------------------------

def test_labels_csv_reads_quoting_separators_bom_and_spaces(tmp_path):
    # Catches splitting a quoted "a,b" field on commas, a BOM glued to `file`, and `;` ignored.
    text = ('\ufeffFile,labels,split,comment\n'
            '"my clip 1.flac","Dog bark, Speech",train,x\n'
            'sub/b.wav,door_knock;Dog bark; door_knock ;,,\n'
            '"a, b.wav",Speech,VAL,"note, with comma"\n'
            './sub/../c.wav,door_knock\n')
    csv_folder(tmp_path, text, audio=("my clip 1.flac", "sub/b.wav", "a, b.wav", "c.wav"))
    collection = read_labels_csv(tmp_path / "labels.csv")
    assert collection.layout == "csv" and collection.root == tmp_path.absolute()
    assert collection.vocabulary is None and collection.source == tmp_path / "labels.csv"
    assert [(c.name, c.labels, c.split, c.fold) for c in collection.clips] == [
        ("my clip 1.flac", ("Dog bark", "Speech"), "train", None),
        ("sub/b.wav", ("door_knock", "Dog bark"), None, None),
        ("a, b.wav", ("Speech",), "val", None),
        ("c.wav", ("door_knock",), None, None),
    ]
    assert all(c.path.is_absolute() and c.path.is_file() for c in collection.clips)


def test_labels_csv_fold_column_and_separate_audio_dir(tmp_path):
    # Catches folds kept as strings and audio looked up beside the csv instead of in audio_dir.
    audio = tmp_path / "audio"
    for name in ("a.wav", "b.wav", "c.wav"):
        write_wav(audio / name)
    labels = write_text(tmp_path / "meta/labels.csv",
                        "file,labels,fold,split\n"
                        "a.wav,Speech,1,\nb.wav,Speech,2,test\nc.wav,Speech,,\n")
    collection = read_labels_csv(labels, audio_dir=audio)
    assert collection.root == audio.absolute()
    assert [(c.fold, c.split) for c in collection.clips] == [(1, None), (2, "test"), (None, None)]
    assert collection.clips[0].path == audio.absolute() / "a.wav"


def test_desed_root_and_explicit_tsv(tmp_path):
    # Catches labels split on spaces, the audio folder left out of names, a wrong TSV delimiter.
    root = desed_folder(tmp_path / "DESED")
    collection = read_desed(root)
    assert collection.layout == "desed" and collection.root == root.absolute()
    assert [(c.name, c.labels, c.split) for c in collection.clips] == [
        ("audio/train/weak/Y0a1.wav", ("Alarm_bell_ringing", "Dog"), None),
        ("audio/train/weak/Y b2.wav", ("Speech",), None)]
    assert collection.clips[1].path == root.absolute() / "audio/train/weak/Y b2.wav"
    # The same TSV given explicitly: names as listed, relative to audio_dir.
    explicit = read_desed(labels_file=root / "metadata/train/weak.tsv",
                          audio_dir=root / "audio/train/weak")
    assert [c.name for c in explicit.clips] == ["Y0a1.wav", "Y b2.wav"]
    assert explicit.root == (root / "audio/train/weak").absolute()


def test_fsd50k_splits_names_and_vocabulary_order(tmp_path):
    # Catches eval clips not made test, vocabulary sorted by name or row, names without folder.
    collection = read_fsd50k(fsd50k_folder(tmp_path))
    assert collection.layout == "fsd50k" and collection.root == tmp_path.absolute()
    assert collection.vocabulary == ["Speech", "Dog_bark", "Accordion"]
    assert [(c.name, c.labels, c.split) for c in collection.clips] == [
        ("FSD50K.dev_audio/64760.wav", ("Dog_bark", "Speech"), "train"),
        ("FSD50K.dev_audio/16399.wav", ("Speech",), "train"),
        ("FSD50K.dev_audio/1234.wav", ("Accordion",), "val"),
        ("FSD50K.eval_audio/37199.wav", ("Speech", "Accordion"), "test")]
    assert collection.clips[3].path == tmp_path.absolute() / "FSD50K.eval_audio/37199.wav"


# --- detection -------------------------------------------------------------------------------

def test_detect_and_load_each_layout(tmp_path):
    # Catches a marker checked in the wrong place or a layout routed to the wrong reader.
    fsd = fsd50k_folder(tmp_path / "fsd")
    desed = desed_folder(tmp_path / "desed")
    plain = csv_folder(tmp_path / "plain", "file,labels\na.wav,Speech\n").parent
    chime = write_text(tmp_path / "parent/chime_home" / chime_home.CROSSVAL_LIST, "").parents[1]
    assert LAYOUTS == ("chime-home", "fsd50k", "desed", "csv")
    assert [detect_layout(d) for d in (chime, fsd, desed, plain)] == list(LAYOUTS)
    assert detect_layout(chime / "chime_home") == "chime-home"
    for folder, layout in ((fsd, "fsd50k"), (desed, "desed"), (plain, "csv")):
        assert load_collection(folder).layout == layout
    with pytest.raises(ValueError):
        load_collection(chime)


def test_detect_none_several_and_missing(tmp_path):
    # Catches a silent fallback layout, the first of several matches winning, a missing dir crash.
    message = assert_one_line_error(lambda: detect_layout(tmp_path), tmp_path,
                                    "none of the layouts")
    assert all(word in message for word in ("FSD50K.ground_truth/", "weak.tsv", "labels.csv",
                                            "data.layout"))
    desed_folder(tmp_path)
    csv_folder(tmp_path, "file,labels\na.wav,Speech\n")
    message = assert_one_line_error(lambda: detect_layout(tmp_path), tmp_path, "several layouts")
    assert "desed, csv" in message and "data.layout" in message
    assert load_collection(tmp_path, layout="csv").layout == "csv"
    assert_one_line_error(lambda: detect_layout(tmp_path / "nope"), tmp_path / "nope",
                          "does not exist")
    assert_one_line_error(lambda: load_collection(tmp_path, layout="audioset"), "audioset",
                          "chime-home, fsd50k, desed, csv")


def test_load_collection_labels_file_by_suffix(tmp_path):
    # Catches a .tsv labels file parsed as CSV (or the reverse) and audio_dir not passed on.
    desed = desed_folder(tmp_path / "desed")
    tsv = load_collection(None, labels_file=desed / "metadata/train/weak.tsv",
                          audio_dir=desed / "audio/train/weak")
    assert tsv.layout == "desed" and tsv.clips[0].labels == ("Alarm_bell_ringing", "Dog")
    labels = csv_folder(tmp_path / "plain", "file,labels\na.wav,Speech\n")
    assert load_collection(tmp_path, labels_file=labels).layout == "csv"
    assert_one_line_error(lambda: load_collection(tmp_path, labels_file=tmp_path / "x.txt"),
                          "x.txt", "neither .csv nor .tsv")


# --- splits ----------------------------------------------------------------------------------

def test_assign_splits_is_stratified_complete_and_seeded(tmp_path):
    # Catches unseeded shuffling, clips left unassigned, and val/test drawn without stratifying.
    collection = synthetic(60)
    first = assign_splits(collection, seed=3)
    assert first == assign_splits(collection, seed=3)
    assert first != assign_splits(collection, seed=4)
    assert list(first) == [c.name for c in collection.clips]
    counts = {split: list(first.values()).count(split) for split in ("train", "val", "test")}
    # Test is a fifth of all 60 clips, val a fifth of the other 48; stratifying bends sizes a bit.
    assert 10 <= counts["test"] <= 14 and 8 <= counts["val"] <= 12 and sum(counts.values()) == 60
    for label in ("Dog bark", "door_knock", "Speech", "Music"):
        for split in ("val", "test"):
            assert any(label in c.labels for c in collection.clips if first[c.name] == split)


def test_assign_splits_keeps_given_splits():
    # Catches given splits overwritten, or a second test set drawn when the data has one.
    given = {0: "test", 1: "train", 2: "val"}
    collection = synthetic(30, split=lambda i: given.get(i % 10))
    assignment = assign_splits(collection, seed=0)
    for clip in collection.clips:
        if clip.split:
            assert assignment[clip.name] == clip.split
    # Test and val are given, so nothing more becomes either.
    assert sorted(assignment.values()).count("test") == 3
    assert sorted(assignment.values()).count("val") == 3
    # Only test given: val is one stratified fold (1/5) of the 27 clips without a split.
    only_test = synthetic(30, split=lambda i: "test" if i < 3 else None)
    assert 4 <= list(assign_splits(only_test, seed=0).values()).count("val") <= 7


def test_assign_splits_fold_k_becomes_val():
    # Catches fold compared as a string, a stratified val drawn anyway, or fold K ignored.
    collection = synthetic(50, fold=lambda i: i % 5 + 1)
    assignment = assign_splits(collection, seed=1, fold="2")
    val = {name for name, split in assignment.items() if split == "val"}
    fold2 = {c.name for c in collection.clips if c.fold == 2}
    assert val and val <= fold2
    assert all(assignment[name] == "test" for name in fold2 - val)
    assert 8 <= list(assignment.values()).count("test") <= 12
    assert_one_line_error(lambda: assign_splits(collection, seed=1, fold="7"),
                          collection.source, "no clip in fold '7'")
    assert_one_line_error(lambda: assign_splits(synthetic(10), seed=1, fold="1"),
                          collection.source, "no fold column")


def test_assign_splits_too_few_clips_and_single_label():
    # Catches sklearn errors on < 5 clips or a one-column target, and val/test-only splits.
    assert set(assign_splits(synthetic(4), seed=0).values()) == {"train"}
    single = Collection(Path("/x"), "csv", [Clip(f"{i}.wav", Path(f"/x/{i}.wav"), ("Speech",))
                                            for i in range(10)], source=Path("/x/labels.csv"))
    assert sorted(assign_splits(single, seed=0).values()).count("train") == 6
    no_train = synthetic(4, split=lambda i: "val" if i % 2 else "test")
    assignment = assign_splits(no_train, seed=0)
    assert_one_line_error(lambda: check_assignment(assignment, no_train.source),
                          no_train.source, "no training clips")
    check_assignment(assign_splits(synthetic(10), seed=0), "labels.csv")


# --- vocabulary ------------------------------------------------------------------------------

def test_vocabulary_fsd50k_order_and_sorted_train_labels(tmp_path):
    # Catches the given vocabulary re-sorted, or val/test labels leaking into the vocabulary.
    fsd = read_fsd50k(fsd50k_folder(tmp_path))
    fsd_splits = assign_splits(fsd, seed=0)
    assert choose_vocabulary(fsd, fsd_splits) == ["Speech", "Dog_bark", "Accordion"]
    clips = [Clip("a.wav", Path("/x/a.wav"), ("Speech", "Dog bark")),
             Clip("b.wav", Path("/x/b.wav"), ("door_knock",)),
             Clip("c.wav", Path("/x/c.wav"), ("Speech",))]
    collection = Collection(Path("/x"), "csv", clips, source=Path("/x/labels.csv"))
    assignment = {"a.wav": "train", "b.wav": "train", "c.wav": "val"}
    vocabulary = choose_vocabulary(collection, assignment)
    assert vocabulary == ["Dog bark", "Speech", "door_knock"]
    np.testing.assert_array_equal(label_matrix(clips, vocabulary),
                                  [[1, 1, 0], [0, 0, 1], [0, 1, 0]])
    assert label_matrix(clips, vocabulary).dtype == np.float32


def test_vocabulary_from_data_labels(tmp_path):
    # Catches data.labels re-sorted, unknown or repeated names accepted, or extra labels kept.
    clips = [Clip("a.wav", Path("/x/a.wav"), ("Speech", "Dog bark")),
             Clip("b.wav", Path("/x/b.wav"), ("Music",))]
    collection = Collection(Path("/x"), "csv", clips, source=Path("/x/labels.csv"))
    # Music is only in val: fine, because data.labels leaves it out.
    assignment = {"a.wav": "train", "b.wav": "val"}
    assert choose_vocabulary(collection, assignment, ["Speech", "Dog bark"]) == ["Speech",
                                                                                "Dog bark"]
    np.testing.assert_array_equal(label_matrix(clips, ["Speech"]), [[1], [0]])
    assert_one_line_error(lambda: choose_vocabulary(collection, assignment, ["speech"]),
                          "data.labels", "'speech'")
    assert_one_line_error(lambda: choose_vocabulary(collection, assignment, ["Music", "Music"]),
                          "data.labels", "twice")


def test_vocabulary_rejects_labels_outside_it(tmp_path):
    # Catches a val label silently dropped (so never learned nor scored) instead of an error.
    clips = [Clip("a.wav", Path("/x/a.wav"), ("Speech",)),
             Clip("my val.wav", Path("/x/my val.wav"), ("Dog bark",))]
    collection = Collection(Path("/x"), "csv", clips, source=Path("/x/labels.csv"))
    message = assert_one_line_error(
        lambda: choose_vocabulary(collection, {"a.wav": "train", "my val.wav": "val"}),
        "/x/labels.csv", "val clip my val.wav has label 'Dog bark'")
    assert "data.labels" in message
    given = Collection(Path("/x"), "fsd50k", clips, ["Speech"], source=Path("/x/gt"))
    assert_one_line_error(lambda: choose_vocabulary(given, {"a.wav": "train",
                                                            "my val.wav": "train"}),
                          "/x/gt", "'Dog bark'")


# --- splits.csv ------------------------------------------------------------------------------

def test_splits_file_round_trip(tmp_path):
    # Catches names with commas/spaces mangled, order lost, or a temp file left behind.
    collection = synthetic(12)
    collection.clips[0] = Clip("a, b.wav", Path("/x/a, b.wav"), ("Speech",))
    assignment = assign_splits(collection, seed=0)
    path = tmp_path / "splits.csv"
    write_splits(path, assignment)
    first_row = f'"a, b.wav",{assignment["a, b.wav"]}'
    assert path.read_text().splitlines()[:2] == ["file,split", first_row]
    assert list(read_splits(path, collection).items()) == list(assignment.items())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["splits.csv"]


@pytest.mark.parametrize("text, pattern", [
    ("name,split\na.wav,train\nb.wav,val\n", "header"),
    ("file,split\na.wav,train\nb.wav,dev\n", r":3: split 'dev'"),
    ("file,split\na.wav,train\na.wav,val\nb.wav,val\n", r":3: file a.wav is listed twice"),
    ("file,split\na.wav,train\nb.wav,val\nz.wav,val\n", r":4: file z.wav is not in"),
    ("file,split\na.wav,train\n", r"lacks 1 clip.*b\.wav"),
])
def test_read_splits_errors(tmp_path, text, pattern):
    # Catches a stale or hand-edited splits.csv used for other data without a word.
    clips = [Clip(name, Path(f"/x/{name}"), ("Speech",)) for name in ("a.wav", "b.wav")]
    collection = Collection(Path("/x"), "csv", clips, source=Path("/x/labels.csv"))
    path = write_text(tmp_path / "splits.csv", text)
    assert_one_line_error(lambda: read_splits(path, collection), path, pattern)


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, pattern", [
    ("name,labels\na.wav,Speech\n", "lacks column.*file"),
    ("file,tags\na.wav,Speech\n", "lacks column.*labels"),
    ("file,labels\na.wav,Speech\nb.wav, ; \n", r":3: file b.wav has no labels"),
    ("file,labels\na.wav,Speech\n./a.wav,Speech\n", r":3: file a.wav is listed twice"),
    ("file,labels\nghost.wav,Speech\n", r":2: audio file .*ghost.wav does not exist"),
    ("file,labels\nempty.wav,Speech\n", r":2: audio file .*empty.wav is empty"),
    ("file,labels\n/etc/passwd,Speech\n", "is outside"),
    ("file,labels\nsub/../../out.wav,Speech\n", "is outside"),
    ("file,labels,split\na.wav,Speech,dev\n", r":2: split 'dev'"),
    ("file,labels,fold\na.wav,Speech,one\n", r":2: fold 'one'"),
    ("file,labels\n", "lists no clips"),
    ('file,labels\n"",Speech\n', "file name is empty"),
])
def test_labels_csv_bad_input(tmp_path, text, pattern):
    # Catches each malformed labels.csv reaching training as a crash or a silently wrong set.
    write_wav(tmp_path / "out.wav")  # exists, but outside the data folder
    write_text(tmp_path / "data/empty.wav", "")
    path = csv_folder(tmp_path / "data", text)
    assert_one_line_error(lambda: read_labels_csv(path), path, pattern)


def test_labels_csv_bare_names_in_a_subfolder_hint_at_the_audio_dir(tmp_path):
    # Catches a labels.csv of bare names beside an audio/ folder getting "does not exist" with
    # no word of data.audio_dir (train.py's --audio-dir).
    write_wav(tmp_path / "data" / "audio" / "a.wav")
    path = write_text(tmp_path / "data" / "labels.csv", "file,labels\na.wav,Speech\n")
    message = assert_one_line_error(lambda: read_labels_csv(path), path, "a.wav does not exist")
    assert f"pass data.audio_dir {tmp_path / 'data' / 'audio'}" in message
    assert read_labels_csv(path, tmp_path / "data" / "audio").clips[0].name == "a.wav"


@pytest.mark.parametrize("text, pattern", [
    ("filename\tlabels\nY0a1.wav\tSpeech\n", "lacks column.*event_labels"),
    ("filename\tevent_labels\nY0a1.wav\t\n", r":2: file audio/train/weak/Y0a1.wav has no labels"),
    ("filename\tevent_labels\nY0a1.wav\tDog\nY0a1.wav\tDog\n", "listed twice"),
    ("filename\tevent_labels\n../../../x.wav\tDog\n", "is outside"),
    ("filename\tevent_labels\nghost.wav\tDog\n", "does not exist"),
])
def test_desed_bad_input(tmp_path, text, pattern):
    # Catches DESED rows checked less strictly than labels.csv rows.
    root = desed_folder(tmp_path)
    path = write_text(root / "metadata/train/weak.tsv", text)
    assert_one_line_error(lambda: read_desed(root), path, pattern)


def test_desed_missing_labels_file(tmp_path):
    # Catches a DESED root without weak.tsv surfacing as a raw FileNotFoundError.
    assert_one_line_error(lambda: read_desed(tmp_path), tmp_path / "metadata/train/weak.tsv",
                          "does not exist")


@pytest.mark.parametrize("edit, file, pattern", [
    (lambda r: (r / "FSD50K.ground_truth/eval.csv").unlink(), "FSD50K.ground_truth/eval.csv",
     "does not exist"),
    (lambda r: (r / "FSD50K.ground_truth/vocabulary.csv").unlink(),
     "FSD50K.ground_truth/vocabulary.csv", "does not exist"),
    (lambda r: (r / "FSD50K.eval_audio/37199.wav").unlink(), "FSD50K.eval_audio/37199.wav",
     "does not exist"),
    (lambda r: write_text(r / "FSD50K.ground_truth/dev.csv",
                          "fname,labels,mids,split\n16399,Speech,/m/09x0r,test\n"),
     "FSD50K.ground_truth/dev.csv", r":2: split 'test'"),
    (lambda r: write_text(r / "FSD50K.ground_truth/dev.csv", "fname,labels,mids\n1,Speech,/m\n"),
     "FSD50K.ground_truth/dev.csv", "lacks column.*split"),
    (lambda r: write_text(r / "FSD50K.dev_audio/1234.wav", ""), "FSD50K.dev_audio/1234.wav",
     "empty"),
])
def test_fsd50k_bad_input(tmp_path, edit, file, pattern):
    # Catches a partly unpacked FSD50K (missing ground truth or audio) read without a word.
    root = fsd50k_folder(tmp_path)
    edit(root)
    assert_one_line_error(lambda: read_fsd50k(root), root / file, pattern)


def test_fsd50k_missing_folders(tmp_path):
    # Catches the wrong data_dir (or an audio zip not unpacked) failing per file, or crashing.
    assert_one_line_error(lambda: read_fsd50k(tmp_path), tmp_path / "FSD50K.ground_truth",
                          "does not exist")
    root = fsd50k_folder(tmp_path)
    for wav in (root / "FSD50K.eval_audio").iterdir():
        wav.unlink()
    (root / "FSD50K.eval_audio").rmdir()
    assert_one_line_error(lambda: read_fsd50k(root), root / "FSD50K.eval_audio", "unpack")
