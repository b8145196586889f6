"""Reliability: resume after SIGKILL, the run lock, non-finite guards, corrupt checkpoints."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from admlc_tf.data.generated.demo import generate_demo_dataset
from admlc_tf.errors import AdmlcError
from admlc_tf.files import run_folder_lock
from tests.helpers import REPO, learnable_arrays, learnable_rows, run_script, write_cache
from tests.test_trainer import make_trainer, tiny_config

STEPS_PER_EPOCH, EPOCHS = 2, 15  # 20 development chunks, batch 8 (fold "all")
SLOW_TINY = ["--conv-filters", "4", "--gru-units", "8", "--critic-pretrain-steps", "3",
             "--batch-size", "8", "--epochs", str(EPOCHS), "--checkpoint-every", "4", "--quiet"]


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    return generate_demo_dataset(tmp_path_factory.mktemp("tiny"), n_segments_dev=5,
                                 n_segments_eval=2, chunks_per_segment=4)


def train_command(data_dir, out, models):
    return [sys.executable, "train.py", "--data-dir", str(data_dir), "--out", str(out),
            "--export-dir", str(models), *SLOW_TINY]


def environment(tmp_path):
    return {**os.environ, "ADMLC_DATA_HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}


def checkpoint_tensors(run_dir: Path, step: int) -> dict:
    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints" / f"ckpt-{step}"))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name.startswith(("predictor/", "critic/", "rng/", "predictor_optimizer/"))}


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_weights(tiny_set, tmp_path):
    env, total = environment(tmp_path), STEPS_PER_EPOCH * EPOCHS
    reference = subprocess.run(train_command(tiny_set, tmp_path / "ref", tmp_path / "m1"),
                               cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert reference.returncode == 0, reference.stderr

    run = tmp_path / "killed"
    process = subprocess.Popen(train_command(tiny_set, run, tmp_path / "m2"), cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (run / "checkpoints" / "ckpt-8.index").exists():
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=60)
    assert not (run / "results.json").exists()

    resumed = subprocess.run(train_command(tiny_set, run, tmp_path / "m2"), cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    expected, got = checkpoint_tensors(tmp_path / "ref", total), checkpoint_tensors(run, total)
    assert set(got) == set(expected) and any(n.startswith("rng/") for n in got)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.slow
def test_a_second_process_on_the_same_out_is_refused(tiny_set, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with run_folder_lock(out):
        result = subprocess.run(train_command(tiny_set, out, tmp_path / "m"), cwd=REPO,
                                env=environment(tmp_path), capture_output=True, text=True,
                                timeout=600)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: another training process is using {out}: wait for it to finish or pass "
        "another --out")


@pytest.mark.slow
def test_a_corrupt_checkpoint_is_reported(tiny_set, tmp_path):
    out = tmp_path / "run"
    command = train_command(tiny_set, out, tmp_path / "m")
    command[command.index("--epochs") + 1] = "1"
    env = environment(tmp_path)
    assert subprocess.run(command, cwd=REPO, env=env, capture_output=True,
                          timeout=600).returncode == 0
    for data in (out / "checkpoints").glob("ckpt-*.data-*"):
        data.write_bytes(b"\0garbage" * 10)
    command[command.index("--epochs") + 1] = "2"
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: checkpoint ") and "cannot be restored" in last
    assert str(out / "checkpoints") in last


def test_an_unwritable_out_is_reported(tiny_set, tmp_path):
    # train.py in this process: the run folder is made (and refused) before any training
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_script(*train_command(tiny_set, blocker / "run", tmp_path / "m")[1:],
                        data_home=tmp_path, in_process=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"error: cannot create the run folder {blocker / 'run'}")


class TestNonFiniteGuard:
    def test_stops_at_the_first_bad_step_and_keeps_the_last_checkpoint(self, tmp_path):
        good = learnable_rows(tmp_path, n=32)
        first = make_trainer(tiny_config(epochs=1, checkpoint_every=2), ["/cpu:0"],
                             run_dir=tmp_path / "run")
        first.fit(good, verbose=False)
        assert first.manager.latest_checkpoint.endswith("ckpt-4")

        features, labels = learnable_arrays(32)
        features[:] = np.nan
        (tmp_path / "bad").mkdir()
        from admlc_tf.data.pipeline import ClipRows
        bad = ClipRows(write_cache(tmp_path / "bad" / "cache.h5", features), np.arange(32), labels)
        second = make_trainer(tiny_config(epochs=2, checkpoint_every=2), ["/cpu:0"],
                              run_dir=tmp_path / "run")
        with pytest.raises(AdmlcError, match=r"non-finite loss or gradient at step 5: the last "
                           r"good checkpoint .*ckpt-4 is kept"):
            second.fit(bad, verbose=False)
        assert (tmp_path / "run" / "checkpoints" / "ckpt-4.index").exists()
        assert not list((tmp_path / "run" / "checkpoints").glob("ckpt-5*"))


@pytest.mark.soak
def test_soak_memory_growth(tmp_path):
    """Thousands of steps with resident memory sampled; run with `pytest -m soak -s`."""
    rows = learnable_rows(tmp_path, n=64)
    trainer = make_trainer(tiny_config(epochs=500, checkpoint_every=1000), ["/cpu:0"],
                           run_dir=tmp_path / "run")
    samples = []
    original = trainer.adversarial_step

    def sampled(*args):
        if int(trainer.step.numpy()) % 250 == 0:
            samples.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        return original(*args)

    trainer.adversarial_step = sampled  # the critic steps every step
    trainer.fit(rows, verbose=False)
    growth = samples[-1] - samples[len(samples) // 4]
    print(f"\nsoak: {int(trainer.step.numpy())} steps, peak RSS MiB every 250 steps: "
          f"{[round(s) for s in samples]}; growth after warm-up {growth:.1f} MiB")
    assert growth < 100
