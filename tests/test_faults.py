"""Faults that arrive from outside the input list (issue #24): files the project wrote itself
found damaged, a full disk at each write, and a kill just before each atomic rename."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import h5py
import keras
import numpy as np
import pytest
import soundfile
import tensorflow as tf

from admlc_tf import files
from admlc_tf.cli import run_cli
from admlc_tf.config import ExperimentConfig, FeatureConfig, PredictorConfig
from admlc_tf.data.cache import build_feature_cache, read_names, read_offsets
from admlc_tf.early_stopping import EarlyStopping
from admlc_tf.errors import AdmlcError, DataError
from admlc_tf.predictors.cgrnn import build_cgrnn
from admlc_tf.serving import export as export_module
from admlc_tf.serving import exported as exported_module
from admlc_tf.serving.export import export_predictor
from admlc_tf.serving.exported import ExportedPredictor
from tests.helpers import REPO, learnable_rows, run_script, tiny_config
from tests.test_trainer import make_trainer

DISK_FULL = "the disk is full (No space left on device)"


def temporaries(folder: Path) -> list[Path]:
    """What an interrupted writer leaves: `files.temporary_path` names and TF's own."""
    return [p for p in Path(folder).rglob("*")
            if ".tmp-" in p.name or p.name.endswith("_temp") or ".tmp" in p.name]


def write_wav(path: Path, seconds: float = 0.5, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    soundfile.write(path, (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32),
                    16000)
    return path


def one_line(text: str) -> str:
    """The single non-empty line of `text` (fails when there are more)."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture
def full_disk(monkeypatch):
    """`full_disk()` fills the disk: from then on every write through
    `admlc_tf.files.write_bytes` stores half its bytes and fails as a full disk does (ENOSPC),
    leaving the short temporary file a real full disk leaves."""

    def short_write(path, data):
        Path(path).write_bytes(data[:len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    def fill():
        for module in (files, exported_module, export_module):
            monkeypatch.setattr(module, "write_bytes", short_write)

    return fill


@pytest.fixture(scope="module")
def audio_export(tmp_path_factory):
    model = build_cgrnn(249, 40, 7, config=PredictorConfig(conv_filters=(4,), gru_units=(6,),
                                                           dense_units=8),
                        feature_mean=np.full(40, -8.0), feature_variance=np.full(40, 9.0))
    return export_predictor(model, base_dir=tmp_path_factory.mktemp("models"), name="tagger",
                            label_names=list("cmfvpbo"), metadata={}, features=FeatureConfig())


def tiny_vector_model() -> keras.Model:
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(2)(inputs))


# --- the sweep of dead writers' temporaries --------------------------------------------------

def test_a_dead_writers_temporaries_are_swept_at_the_next_write(tmp_path):
    """Files and folders named `.NAME.tmp-PID` of a PID that no longer runs go at the next write
    in that folder; a live process's (ours, our parent's) stay. Fails if temporaries left by
    killed writers accumulate, or if a running writer's file is taken from under it."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f".a.csv.tmp-{dead.pid}").write_text("half")
    (tmp_path / f".best.weights.h5.tmp-{dead.pid}.weights.h5").write_text("half")
    (tmp_path / f".3.tmp-{dead.pid}").mkdir()
    (tmp_path / f".3.tmp-{dead.pid}" / "saved_model.pb").write_text("half")
    live = [tmp_path / f".b.csv.tmp-{os.getppid()}", tmp_path / f".c.csv.tmp-{os.getpid()}"]
    for path in live:
        path.write_text("being written")
    files.write_text_atomic(tmp_path / "out.csv", "new\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["out.csv", *(p.name for p in live)])


# --- 1. damaged files the project wrote itself ----------------------------------------------

class TestDamagedCaches:
    @pytest.fixture
    def clips(self, tmp_path):
        (tmp_path / "audio").mkdir()
        return [(f"c{i}.wav", write_wav(tmp_path / "audio" / f"c{i}.wav", 0.5 + i, seed=i))
                for i in range(3)]

    @pytest.mark.parametrize("damage", ["truncated", "garbage", "other rows"])
    def test_a_damaged_audio_cache_is_rebuilt_with_one_line(self, clips, tmp_path, capsys,
                                                            damage):
        """A cache cut short (a copy or a full disk), overwritten with garbage, or holding other
        rows is rebuilt, said on one stderr line naming it, and the rebuilt file holds every
        clip. Fails if the damaged file is returned (h5py's traceback at training time) or
        rebuilt silently."""
        config = FeatureConfig()
        path = build_feature_cache(clips, config=config, cache_dir=tmp_path / "c", verbose=False)
        offsets = read_offsets(path)
        data = path.read_bytes()
        if damage == "truncated":
            path.write_bytes(data[:len(data) // 2])
        elif damage == "garbage":
            path.write_bytes(b"\0garbage" * 100)
        else:
            with h5py.File(path, "r+") as f:
                f["features"].resize(int(offsets[-1]) - 5, axis=0)
        capsys.readouterr()
        again = build_feature_cache(clips, config=config, cache_dir=tmp_path / "c",
                                    verbose=False)
        assert again == path
        line = one_line(capsys.readouterr().err)
        assert line.startswith(f"note: the feature cache {path} is damaged (")
        assert line.endswith("): rebuilding it")
        assert read_names(again) == [n for n, _ in clips]
        np.testing.assert_array_equal(read_offsets(again), offsets)
        assert temporaries(tmp_path / "c") == []

    def test_an_intact_cache_is_reused_without_a_word(self, clips, tmp_path, capsys):
        """The check on opening must not reject a good file: it is not rewritten. Fails if the
        check misreads the shapes and rebuilds every time."""
        path = build_feature_cache(clips, config=FeatureConfig(), cache_dir=tmp_path / "c",
                                   verbose=False)
        stamp = path.stat().st_mtime_ns
        capsys.readouterr()
        assert build_feature_cache(clips, config=FeatureConfig(), cache_dir=tmp_path / "c",
                                   verbose=False) == path
        assert path.stat().st_mtime_ns == stamp and capsys.readouterr().err == ""

    def test_a_truncated_image_cache_is_rebuilt_with_one_line(self, tmp_path, capsys):
        """The image cache, the same way. Fails if a truncated image cache is returned."""
        from PIL import Image

        from admlc_tf.data.image_cache import CachedMatrix, build_image_cache

        images = []
        for i in range(3):
            path = tmp_path / f"i{i}.png"
            Image.fromarray(np.full((32, 32, 3), 40 * i, np.uint8)).save(path)
            images.append((path.name, path))
        extractor = type("Fake", (), {
            "name": "fake", "image_size": 32, "dims": 4, "weights_hash": lambda self: "0",
            "metadata": lambda self: {"backbone": "fake"},
            "__call__": lambda self, batch: tf.reduce_mean(
                tf.cast(batch, tf.float32), axis=(1, 2))[:, :1] * tf.ones((1, 4))})()
        path = build_image_cache(images, extractor, cache_dir=tmp_path / "c", verbose=False)
        expected = CachedMatrix(path)[[0, 1, 2]]
        data = path.read_bytes()
        path.write_bytes(data[:len(data) - 100])
        capsys.readouterr()
        assert build_image_cache(images, extractor, cache_dir=tmp_path / "c",
                                 verbose=False) == path
        assert one_line(capsys.readouterr().err).startswith(
            f"note: the feature cache {path} is damaged (")
        np.testing.assert_array_equal(CachedMatrix(path)[[0, 1, 2]], expected)


@pytest.mark.slow  # each test trains a run, then resumes it
class TestDamagedCheckpoints:
    @pytest.fixture
    def run(self, tmp_path):
        """A run folder with checkpoints ckpt-2 and ckpt-4 (one epoch of 4 steps)."""
        rows = learnable_rows(tmp_path, n=32)
        trainer = make_trainer(tiny_config(checkpoint_every=2), ["/cpu:0"], tmp_path / "run")
        trainer.fit(rows, verbose=False)
        folder = tmp_path / "run" / "checkpoints"
        assert {p.name for p in folder.glob("*.index")} == {"ckpt-2.index", "ckpt-4.index"}
        return tmp_path / "run", rows

    def resumed(self, run_dir, **trainer):
        new = make_trainer(tiny_config(checkpoint_every=2, **trainer), ["/cpu:0"], run_dir)
        return new, new.restore()

    def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_good_one(self, run, capsys):
        """ckpt-4's data file is garbage: the run resumes from ckpt-2, said on one line. Fails
        if the damaged checkpoint ends the run though a good one is there, or if it restores
        nothing and training silently starts over."""
        run_dir, _ = run
        for data in (run_dir / "checkpoints").glob("ckpt-4.data-*"):
            data.write_bytes(b"\0garbage" * 10)
        capsys.readouterr()
        trainer, restored = self.resumed(run_dir)
        assert restored and int(trainer.step.numpy()) == 2
        line = one_line(capsys.readouterr().err)
        assert line.startswith(f"note: checkpoint {run_dir / 'checkpoints' / 'ckpt-4'} cannot be "
                               "restored (")
        assert line.endswith(f"resumed from the previous good one, "
                             f"{run_dir / 'checkpoints' / 'ckpt-2'}")

    @pytest.mark.parametrize("state", [b"\xff\xfe garbage {{{", b'all_model_checkpoint_paths: "x"',
                                       b'model_checkpoint_path: "ckpt-99"',
                                       b'model_checkpoint_path: "ckpt-2"'])
    def test_a_garbage_state_file_is_rebuilt_from_the_checkpoints_present(self, run, capsys,
                                                                         state):
        """A garbled `checkpoint` file (TensorFlow ignores it and the run restarts at step 0),
        one naming no checkpoint (TensorFlow raises a ValueError), a missing one, or an older
        one than the newest whole checkpoint (a kill between TensorFlow's merge and its state
        write; max_to_keep would never drop the newer one): rebuilt from
        the ckpt-N.index files, one line, resumed at step 4. Fails on a silent restart or a
        traceback."""
        run_dir, _ = run
        (run_dir / "checkpoints" / "checkpoint").write_bytes(state)
        capsys.readouterr()
        trainer, restored = self.resumed(run_dir)
        assert restored and int(trainer.step.numpy()) == 4
        line = one_line(capsys.readouterr().err)
        assert line.startswith(f"note: {run_dir / 'checkpoints' / 'checkpoint'} was damaged (")
        assert line.endswith("rebuilt it from the checkpoints present, the newest being ckpt-4")
        assert tf.train.latest_checkpoint(str(run_dir / "checkpoints")).endswith("ckpt-4")

    def test_a_newer_checkpoint_whose_index_is_cut_short_is_not_named(self, run, capsys):
        """TensorFlow writes the merged `.index` in place: a state naming ckpt-2 beside a
        ckpt-4 whose index a kill cut short stays as it is, and the run resumes from ckpt-2.
        Fails if the state is pointed at a checkpoint that does not read."""
        from admlc_tf import checkpoints

        run_dir, _ = run
        folder = run_dir / "checkpoints"
        (folder / "checkpoint").write_text('model_checkpoint_path: "ckpt-2"\n')
        index = folder / "ckpt-4.index"
        index.write_bytes(index.read_bytes()[:7])
        checkpoints.repair_state(folder)
        assert tf.train.latest_checkpoint(str(folder)).endswith("ckpt-2")
        trainer, restored = self.resumed(run_dir)
        assert restored and int(trainer.step.numpy()) == 2

    def test_what_a_killed_save_leaves_is_swept_at_the_next_start(self, run):
        """TensorFlow's `ckpt-N_temp/` and the state file's `checkpoint.tmp<hex>` carry no PID:
        the next trainer on the folder (under the run lock) removes them. Fails if they
        accumulate run after run."""
        run_dir, _ = run
        folder = run_dir / "checkpoints"
        (folder / "ckpt-6_temp").mkdir()
        (folder / "ckpt-6_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"x")
        (folder / "checkpoint.tmp0123abcd").write_text("half")
        self.resumed(run_dir)
        assert temporaries(folder) == []

    def test_a_damaged_best_weights_file_is_refused_with_one_line(self, tmp_path):
        """A resumed run reads best.weights.h5 back; a damaged one is one line naming it and the
        fix, and the predictor keeps its weights. Fails on h5py's traceback."""
        model = tiny_vector_model()
        stopping = EarlyStopping(tmp_path / "best.weights.h5")
        stopping.start(("val_loss", "min"), patience=2)
        stopping.track(1, 0.5, model)
        data = (tmp_path / "best.weights.h5").read_bytes()
        (tmp_path / "best.weights.h5").write_bytes(data[:len(data) // 3])
        resumed = EarlyStopping(tmp_path / "best.weights.h5")
        resumed.best_epoch.assign(1)
        before = [w.copy() for w in model.get_weights()]
        with pytest.raises(AdmlcError) as caught:
            resumed.load_best(model)
        message = str(caught.value)
        assert message.startswith(f"the best epoch's weights {tmp_path / 'best.weights.h5'} are "
                                  "damaged (") and "\n" not in message
        assert "delete that file" in message and "--out" in message
        for got, want in zip(model.get_weights(), before):
            np.testing.assert_array_equal(got, want)


class TestDamagedRunFiles:
    @pytest.mark.parametrize("text", [b"\x89PNG\0\0", b'{"trainer": {"epochs": 3', b"[1, 2]"])
    def test_a_damaged_config_json_is_refused_on_resume(self, tmp_path, text):
        """Binary garbage, a file cut short and JSON that is not an object: one line naming
        config.json and the fix. Fails on a traceback (the list case raised AttributeError)."""
        from admlc_tf.lifecycle import check_resume

        (tmp_path / "config.json").write_bytes(text)
        with pytest.raises(AdmlcError) as caught:
            check_resume(ExperimentConfig(), tmp_path)
        message = str(caught.value)
        assert message.startswith(f"{tmp_path / 'config.json'} is damaged (")
        assert message.endswith("delete it to resume with the current settings, or pass a new "
                                "out_dir") and "\n" not in message

    def test_config_json_is_written_atomically(self, tmp_path, full_disk):
        """A run killed or out of space while saving config.json must not leave half of one
        (its resume would refuse it): the old file stays. Fails on a plain write_text."""
        full_disk()
        (tmp_path / "config.json").write_text('{"old": true}\n')
        with pytest.raises(AdmlcError, match="disk is full"):
            ExperimentConfig().save(tmp_path / "config.json")
        assert (tmp_path / "config.json").read_text() == '{"old": true}\n'
        assert temporaries(tmp_path) == []

    @pytest.mark.parametrize("text", [b"file,split\na.wav,train\n\0\0\0\0", b"\xff\xfe\xfa",
                                      b"file,split\na.wav,tr"])
    def test_a_damaged_splits_csv_is_refused_on_resume(self, tmp_path, text):
        """NUL bytes (a disk's zeroed block), non-UTF-8 bytes, a row cut short: one line naming
        splits.csv and the fix. Fails on a csv traceback."""
        from admlc_tf.data.layouts.collection import read_splits

        (tmp_path / "splits.csv").write_bytes(text)
        collection = SimpleNamespace(clips=[SimpleNamespace(name="a.wav")], source="data")
        with pytest.raises(DataError) as caught:
            read_splits(tmp_path / "splits.csv", collection)
        message = str(caught.value)
        assert str(tmp_path / "splits.csv") in message and "\n" not in message
        assert message.endswith("delete splits.csv to have new splits made, or restore it")


class TestDamagedExports:
    @pytest.fixture
    def copy(self, audio_export, tmp_path):
        target = tmp_path / "tagger" / "1"
        shutil.copytree(audio_export, target)
        write_wav(tmp_path / "a.wav", 1.0)
        return target

    @pytest.mark.parametrize("name,data", [
        ("labels.txt", b"c\nm\xff\xfe\n"), ("labels.txt", b""), ("labels.txt", b"c\nc\n"),
        ("export_config.json", b'{"serving": {"segment_samp'), ("export_config.json", b"[]"),
        ("export_config.json", b'{"serving": {}, "features": {}}'),
        ("thresholds.json", b'{"rule": "f1", "thr'), ("labels.txt", None)])
    def test_a_damaged_asset_is_one_line_and_exit_2(self, copy, tmp_path, capsys, name, data):
        """Each asset predict.py reads, damaged or missing: exit 2 and one line naming the file
        and the fix, and no output written. Fails on a traceback (a missing labels.txt raised
        FileNotFoundError, non-UTF-8 labels UnicodeDecodeError, a config without its serving
        settings a KeyError at tagging)."""
        import predict

        asset = copy / "assets" / name
        if data is None:
            asset.unlink()
        else:
            asset.write_bytes(data)
        capsys.readouterr()
        code = predict.main(["--model", str(copy), str(tmp_path / "a.wav"), "--csv",
                             str(tmp_path / "out.csv"), "--quiet"])
        assert code == 2
        line = one_line(capsys.readouterr().err)
        assert line.startswith(f"error: {asset}"), line
        assert "re-export the model" in line
        assert not (tmp_path / "out.csv").exists()

    def test_a_damaged_keras_asset_is_refused_when_fine_tuning(self, copy):
        """`trainer.init_from` loads assets/predictor.keras: a truncated one is one line naming
        it. Fails on Keras's zipfile traceback."""
        keras_file = copy / "assets" / ExportedPredictor.KERAS
        keras_file.write_bytes(keras_file.read_bytes()[:200])
        with pytest.raises(AdmlcError) as caught:
            ExportedPredictor(copy).keras_model()
        assert str(caught.value).startswith(f"{keras_file} is damaged (")

    def test_a_damaged_saved_model_is_one_line(self, copy, tmp_path, capsys):
        """saved_model.pb cut short: exit 2 and one line naming the version. Fails on
        TensorFlow's protobuf traceback."""
        import predict

        pb = copy / "saved_model.pb"
        pb.write_bytes(pb.read_bytes()[:300])
        capsys.readouterr()
        assert predict.main(["--model", str(copy), str(tmp_path / "a.wav"), "--quiet"]) == 2
        assert one_line(capsys.readouterr().err).startswith(f"error: {copy} cannot be loaded (")


# --- 2. a full disk ---------------------------------------------------------------------------

class TestFullDisk:
    def test_a_text_output_keeps_the_old_file(self, tmp_path, full_disk, capsys):
        """ENOSPC while writing: one line saying the disk is full, exit 2 through the CLI, the
        previous file intact and no temporary left. Fails if the short temporary is renamed
        into place or left behind."""
        full_disk()
        (tmp_path / "tags.csv").write_text("old\n")
        assert run_cli(lambda: files.write_text_atomic(tmp_path / "tags.csv", "new " * 100)) == 2
        assert one_line(capsys.readouterr().err) == (
            f"error: cannot write {tmp_path / 'tags.csv'}: {DISK_FULL}: free some space, or "
            "choose a folder on another disk")
        assert (tmp_path / "tags.csv").read_text() == "old\n"
        assert temporaries(tmp_path) == []

    @pytest.mark.parametrize("error", [
        OSError(errno.ENOSPC, "No space left on device", "/run/events.out"),
        tf.errors.ResourceExhaustedError(None, None, "/run/events.out; No space left on device")])
    def test_a_full_disk_without_a_message_of_its_own_is_still_one_line(self, capsys, error):
        """A writer the library does not wrap (TensorBoard's event files) meets a full disk:
        the CLI still ends with one line and exit 2. Fails on the raw traceback (exit 1)."""
        def main():
            raise error

        assert run_cli(main) == 2
        line = one_line(capsys.readouterr().err)
        assert line.startswith("error: cannot write ") and DISK_FULL in line

    def test_a_benchmark_s_report_keeps_the_old_one(self, tmp_path, full_disk):
        """A benchmark script writing its report on a full disk: one line, exit 2, the previous
        report intact, no temporary. Fails on the raw traceback (exit 1) of a script whose
        `__main__` does not go through `run_cli`."""
        stem = tmp_path / "study"
        shutil.copy(REPO / "benchmarks" / "critic_study.json", stem.with_suffix(".json"))
        stem.with_suffix(".md").write_text("old\n")
        full_disk()
        proc = run_script("benchmarks/real_audio_study.py", "--report-only", "--out", stem,
                          in_process=True)
        assert proc.returncode == 2, proc.stderr
        line = one_line(proc.stderr)
        assert line.startswith(f"error: cannot write {stem}.") and DISK_FULL in line, line
        assert stem.with_suffix(".md").read_text() == "old\n"
        assert temporaries(tmp_path) == []

    def test_every_benchmark_script_ends_through_run_cli(self):
        """Catches a benchmark left out of the one-line backstop (a full disk while it writes
        its report would end in a traceback), and `run_cli` losing a script's own exit code."""
        scripts = [p for p in sorted((REPO / "benchmarks").glob("*.py"))
                   if '__name__ == "__main__"' in p.read_text()]
        assert len(scripts) >= 9
        for script in scripts:
            assert "sys.exit(run_cli(main))" in script.read_text(), script.name
        assert run_cli(lambda: 1) == 1 and run_cli(lambda: None) == 0
        assert run_cli(lambda: {"eer": 0.2}) == 0  # train.py's main returns its run's result

    def test_other_errors_still_surface(self):
        """The backstop must not swallow real bugs. Fails if every OSError became exit 2."""
        def main():
            raise OSError(errno.EIO, "Input/output error")

        with pytest.raises(OSError):
            run_cli(main)

    def test_the_cache_build_leaves_no_file(self, tmp_path, monkeypatch, capsys):
        """h5py failing with ENOSPC while the cache is filled: one line, exit 2, no cache file
        and no temporary (a half cache would be read as whole by the next run)."""
        clips = [("a.wav", write_wav(tmp_path / "a.wav"))]

        def full(self, key, value):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(h5py.Dataset, "__setitem__", full)
        assert run_cli(lambda: build_feature_cache(clips, config=FeatureConfig(),
                                                   cache_dir=tmp_path / "c",
                                                   verbose=False)) == 2
        line = one_line(capsys.readouterr().err)
        assert line.startswith(f"error: cannot write the feature cache {tmp_path / 'c'}/features-")
        assert DISK_FULL in line
        assert list((tmp_path / "c").iterdir()) == []

    def test_a_checkpoint_keeps_the_last_good_one(self, tmp_path, monkeypatch):
        """ENOSPC in TensorFlow's checkpoint write at step 6 (after ckpt-2 and ckpt-4): one line
        naming ckpt-4 as kept, ckpt-6's partial files and TF's temporary removed, and a new
        trainer resumes from ckpt-4. Fails if a half ckpt-6 is left as the newest (the next
        resume would fail on it) or the state file names it."""
        rows = learnable_rows(tmp_path, n=32)
        run_dir = tmp_path / "run"
        make_trainer(tiny_config(checkpoint_every=2), ["/cpu:0"], run_dir).fit(rows,
                                                                                 verbose=False)
        folder = run_dir / "checkpoints"

        def full(self, checkpoint_number=None, **kwargs):
            (folder / f"ckpt-{checkpoint_number}_temp").mkdir()
            (folder / f"ckpt-{checkpoint_number}_temp" / "part-00000-of-00001").write_bytes(b"x")
            (folder / f"ckpt-{checkpoint_number}.index").write_bytes(b"half")
            raise tf.errors.ResourceExhaustedError(
                None, None, f"{folder}/ckpt-{checkpoint_number}_temp/part; No space left on device")

        trainer = make_trainer(tiny_config(checkpoint_every=2, epochs=2), ["/cpu:0"], run_dir)
        monkeypatch.setattr(tf.train.CheckpointManager, "save", full)
        with pytest.raises(AdmlcError) as caught:
            trainer.fit(rows, verbose=False)
        assert str(caught.value) == (
            f"cannot write checkpoint {folder / 'ckpt-6'} (the last good one, {folder / 'ckpt-4'}, "
            f"is kept): {DISK_FULL}: free some space, or choose a folder on another disk")
        assert sorted(p.name for p in folder.glob("*.index")) == ["ckpt-2.index", "ckpt-4.index"]
        assert temporaries(folder) == []
        monkeypatch.undo()
        resumed = make_trainer(tiny_config(checkpoint_every=2), ["/cpu:0"], run_dir)
        assert resumed.restore() and int(resumed.step.numpy()) == 4

    def test_best_weights_keep_the_previous_best(self, tmp_path, monkeypatch):
        """ENOSPC while Keras writes a better epoch's weights: one line, the previous
        best.weights.h5 byte for byte, no temporary. Fails if the file is written in place."""
        model = tiny_vector_model()
        stopping = EarlyStopping(tmp_path / "best.weights.h5")
        stopping.start(("val_loss", "min"), patience=2)
        stopping.track(1, 0.5, model)
        before = (tmp_path / "best.weights.h5").read_bytes()

        def full(self, path, *args, **kwargs):
            Path(path).write_bytes(b"\x89HDF\r\n" + b"\0" * 50)
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(keras.Model, "save_weights", full)
        with pytest.raises(AdmlcError) as caught:
            stopping.track(2, 0.1, model)
        assert str(caught.value).startswith(
            f"cannot write the best epoch's weights {tmp_path / 'best.weights.h5'}: {DISK_FULL}")
        assert (tmp_path / "best.weights.h5").read_bytes() == before
        assert temporaries(tmp_path) == []

    def test_an_export_keeps_the_last_version(self, tmp_path, full_disk):
        """ENOSPC while the assets of version 2 are written (the SavedModel is already in its
        temporary folder): one line, version 1 untouched, no version 2 and no hidden folder.
        Fails if the half version is renamed into place (TF Serving would load it)."""
        model = tiny_vector_model()
        first = export_predictor(model, base_dir=tmp_path, name="m", label_names=["a", "b"],
                                 metadata={})
        full_disk()
        listing = sorted(str(p.relative_to(first)) for p in first.rglob("*"))
        with pytest.raises(AdmlcError) as caught:
            export_predictor(model, base_dir=tmp_path, name="m", label_names=["a", "b"],
                             metadata={})
        assert str(caught.value).startswith(
            f"cannot write the export {tmp_path / 'm' / '2'} (the versions before it are kept): "
            f"{DISK_FULL}")
        assert [p.name for p in (tmp_path / "m").iterdir()] == ["1"]
        assert sorted(str(p.relative_to(first)) for p in first.rglob("*")) == listing
        ExportedPredictor(first)  # still readable

    def test_predict_outputs_keep_the_old_files(self, audio_export, tmp_path, full_disk,
                                                capsys):
        """predict.py with --csv on a full disk: exit 2, the last stderr line says so, the
        previous CSV intact, no temporary. Fails if the failure is a traceback (exit 1) or a
        half CSV replaces the old one."""
        import predict

        write_wav(tmp_path / "a.wav", 1.0)
        (tmp_path / "out.csv").write_text("old\n")
        full_disk()
        capsys.readouterr()
        code = predict.main(["--model", str(audio_export), str(tmp_path / "a.wav"), "--csv",
                             str(tmp_path / "out.csv"), "--quiet"])
        assert code == 2
        assert capsys.readouterr().err.strip().splitlines()[-1] == (
            f"error: cannot write {tmp_path / 'out.csv'}: {DISK_FULL}: free some space, or "
            "choose a folder on another disk")
        assert (tmp_path / "out.csv").read_text() == "old\n"
        assert temporaries(tmp_path) == []

    def test_a_benchmark_result_keeps_the_old_file(self, tmp_path, full_disk, capsys):
        """benchmarks/common.write_json (every benchmark's result file): exit 2 and one line,
        the previous JSON still parses. Fails if a half JSON is left as the result."""
        full_disk()
        from benchmarks.common import write_json

        (tmp_path / "results.json").write_text('{"runs": 3}\n')
        assert run_cli(lambda: write_json(tmp_path / "results.json", {"runs": [1] * 200})) == 2
        assert DISK_FULL in one_line(capsys.readouterr().err)
        assert json.loads((tmp_path / "results.json").read_text()) == {"runs": 3}
        assert temporaries(tmp_path) == []



# --- 3. a kill just before each atomic rename ------------------------------------------------

# Each writer, as code run in a child (killed just before its rename) and then here (the rerun).
WRITERS = {
    "cache": ("cache.h5", """
        from admlc_tf.data.cache import write_features
        write_features(folder / "cache.h5", ["a"], [np.zeros((4, 2), np.float32)],
                       chunk_frames=4)"""),
    "best weights": ("best.weights.h5", """
        import keras
        from admlc_tf.early_stopping import EarlyStopping
        inputs = keras.Input((3,))
        stopping = EarlyStopping(folder / "best.weights.h5")
        stopping.start(("val_loss", "min"), patience=1)
        stopping.track(1, 0.5, keras.Model(inputs, keras.layers.Dense(2)(inputs)))"""),
    "export": ("m/1", """
        import keras
        from admlc_tf.serving.export import export_predictor
        inputs = keras.Input((3,))
        export_predictor(keras.Model(inputs, keras.layers.Dense(2)(inputs)), base_dir=folder,
                         name="m", label_names=["a", "b"], metadata={})"""),
    "predict output": ("tags.csv", """
        from admlc_tf.serving.outputs import write_csv
        write_csv(folder / "tags.csv", [{"file": "a.wav", "seconds": 1.0,
                                         "probabilities": {"x": 0.5}, "labels": ["x"]}], ["x"])"""),
    "config.json": ("config.json", """
        from admlc_tf.config import ExperimentConfig
        ExperimentConfig().save(folder / "config.json")"""),
    "plot": ("bars.png", """
        from admlc_tf import plots
        plots.plot_eer_bars({"CE": {"c": 0.2}}, path=folder / "bars.png")"""),
    "generated data": ("demo", """
        from admlc_tf.files import write_folder_atomic
        write_folder_atomic(folder / "demo", lambda d: (d / "x.txt").write_text("x"),
                            overwrite=False)"""),
}

KILL_BEFORE_RENAME = """
import os, signal, sys
from pathlib import Path
import numpy as np
folder = Path(sys.argv[1])
def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
os.replace = os.rename = killed
"""


@pytest.mark.slow
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_kill_before_the_rename_leaves_a_temporary_the_rerun_sweeps(tmp_path, writer):
    """The writer's process is SIGKILLed just before its rename: the target is absent and its
    temporary is there (so the kill did land mid-write); the rerun writes the target and sweeps
    the dead process's temporary. Fails if a writer renames before it finishes, names its
    temporary so the sweep cannot tell it is dead (the export's and plots' own names did), or
    the rerun trips over the leftover."""
    target, code = WRITERS[writer]
    code = textwrap.dedent(code)
    env = {**os.environ, "ADMLC_DATA_HOME": str(tmp_path / "home"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    child = subprocess.run([sys.executable, "-c", KILL_BEFORE_RENAME + code, str(tmp_path)],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert child.returncode == -9, child.stderr
    assert not (tmp_path / target).exists()
    left = temporaries(tmp_path)
    assert left and all(f".tmp-" in p.name for p in left), left
    exec(compile(code, writer, "exec"), {"folder": tmp_path, "np": np})
    assert (tmp_path / target).exists()
    assert temporaries(tmp_path) == []


# A checkpoint is written by TensorFlow's C++ (no Python rename to stop at): the writer saves a
# 16 MB checkpoint after another, starting as the Trainer does (sweep, repair, manager), and is
# SIGKILLed at a random moment, so most kills land inside a save.
CHECKPOINT_WRITER = """
import sys
import tensorflow as tf
from admlc_tf import checkpoints
folder = sys.argv[1]
checkpoints.sweep_partial(folder)
checkpoints.repair_state(folder)
step, value = tf.Variable(0, dtype=tf.int64), tf.Variable(tf.zeros([1 << 22]))
checkpoint = tf.train.Checkpoint(step=step, value=value)
manager = tf.train.CheckpointManager(checkpoint, folder, max_to_keep=3)
checkpoint.restore(manager.latest_checkpoint)  # None: a new folder, nothing restored
k = int(step.numpy())
while True:
    k += 1
    step.assign(k)
    value.assign(tf.fill([1 << 22], float(k)))
    print("saving", k, flush=True)
    manager.save(checkpoint_number=k)
    print(k, flush=True)
"""


@pytest.mark.slow
def test_a_kill_inside_tensorflow_s_checkpoint_write_resumes_from_the_newest_whole_one(tmp_path):
    """Real SIGKILLs of a process that keeps saving checkpoints, aimed at a random moment of a
    save (the writer says when one starts): each rerun sweeps what the killed save left
    (`ckpt-N_temp/`, `checkpoint.tmp<hex>`), the newest checkpoint on disk restores with the
    values saved under its number, the state file names it (a kill between TensorFlow's merge
    and its state write leaves the state a checkpoint behind), and the numbering goes on. At least four kills, and more
    until one has landed inside a save (a loaded machine can stretch the time between saves).
    Fails if a killed save's leftovers accumulate or break the next start, or if the state file
    can point at a checkpoint the kill left half-written."""
    import random
    import signal
    import time

    from admlc_tf import checkpoints

    folder, rng = tmp_path / "checkpoints", random.Random(0)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    last, interrupted, kills = 0, 0, 0
    while kills < 4 or (not interrupted and kills < 16):
        writer = subprocess.Popen([sys.executable, "-c", CHECKPOINT_WRITER, str(folder)],
                                  cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline().split()[0] == "saving"
        first = int(writer.stdout.readline())  # it started, and its first save is whole
        assert first == last + 1 if last else first >= 1
        writer.stdout.readline()
        started = time.monotonic()
        writer.stdout.readline()
        save_seconds = time.monotonic() - started
        assert writer.stdout.readline().split()[0] == "saving"
        time.sleep(rng.uniform(0, 1.5 * save_seconds))
        writer.send_signal(signal.SIGKILL)
        writer.communicate(timeout=60)
        kills += 1
        interrupted += bool(temporaries(folder))
        checkpoints.sweep_partial(folder)
        checkpoints.repair_state(folder)
        assert temporaries(folder) == []
        newest = checkpoints.prefixes(folder)[0]
        last = int(newest.rsplit("-", 1)[1])
        step, value = tf.Variable(0, dtype=tf.int64), tf.Variable(tf.zeros([1 << 22]))
        tf.train.Checkpoint(step=step, value=value).restore(newest).assert_consumed()
        assert int(step.numpy()) == last
        np.testing.assert_array_equal(value.numpy(), np.full(1 << 22, float(last), np.float32))
        assert tf.train.latest_checkpoint(str(folder)) == newest
    assert interrupted >= 1, f"none of {kills} kills landed inside a save: the test tested nothing"


@pytest.mark.slow
def test_train_py_rebuilds_a_truncated_cache(tmp_path):
    """The issue's report, end to end: the feature cache of a finished run cut in half on disk;
    the next `python train.py` says so on one line, rebuilds it and goes on (exit 0), and the
    temporaries a killed run left in the run folder and the cache folder are swept at its start
    (a half best.weights.h5 is not written again unless an epoch beats it). Fails on h5py's
    `truncated file` traceback and exit 1, or on leftovers that stay."""
    from admlc_tf.data.generated.demo import generate_demo_dataset
    from tests.helpers import run_script

    data = generate_demo_dataset(tmp_path / "data", n_segments_dev=5, n_segments_eval=2,
                                 chunks_per_segment=4)
    home = tmp_path / "home"

    def train(out):
        return run_script("train.py", "--data-dir", data, "--out", tmp_path / out,
                          "--export-dir", tmp_path / "models", "--conv-filters", "4",
                          "--gru-units", "8", "--critic-pretrain-steps", "0", "--batch-size",
                          "8", "--epochs", "1", "--quiet", data_home=home)

    first = train("run1")
    assert first.returncode == 0, first.stderr
    caches = sorted((home / "features").glob("features-*.h5"))
    assert caches
    for cache in caches:
        data_bytes = cache.read_bytes()
        cache.write_bytes(data_bytes[:len(data_bytes) // 2])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftovers = [tmp_path / "run1" / f".best.weights.h5.tmp-{dead.pid}.weights.h5",
                 home / "features" / f".features-0.h5.tmp-{dead.pid}"]
    for path in leftovers:
        path.write_bytes(b"half")
    second = train("run1")  # resumes the finished run: nothing to train, data prepared again
    assert second.returncode == 0, second.stderr
    assert not any(path.exists() for path in leftovers)
    notes = [line for line in second.stderr.splitlines() if "is damaged" in line]
    assert len(notes) == len(caches) and "Traceback" not in second.stderr
    assert all(line.startswith("note: the feature cache ") and "truncated file" in line
               and line.endswith("rebuilding it") for line in notes)
