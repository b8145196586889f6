"""Two worker processes on 127.0.0.1 under MultiWorkerMirroredStrategy equal one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from admlc_tf.config import (CriticConfig, DataConfig, ExperimentConfig, PredictorConfig,
                             RuntimeConfig, TrainerConfig)
from admlc_tf.data.generated.demo import generate_demo_dataset
from tests.helpers import REPO

STEPS = 4  # 20 development chunks, global batch 8: 2 steps per epoch, 2 epochs


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def write_config(path: Path, data_dir: Path, out: Path, strategy: str) -> Path:
    # No dropout: its masks are per-replica randomness that a different replica layout changes.
    # Critic pre-training is on: its incompatible pairs depend only on each example's position
    # in the global batch (AdmlcTask.incompatible_labels). SGD: updates linear in the gradients,
    # so a mis-scaled term on either layout shows in the weights (Adam's first steps would not).
    config = ExperimentConfig(
        name="mw", out_dir=str(out), export_dir=str(out.parent / f"{out.name}-models"),
        data=DataConfig(data_dir=str(data_dir)),
        predictor=PredictorConfig(window_hop=27, conv_filters=(4,), gru_units=(8,),
                                  dense_units=8, dropout=0.0),
        critic=CriticConfig(representation_units=(4,), embedding_units=8, label_units=4,
                            fusion_units=(8,)),
        trainer=TrainerConfig(epochs=2, batch_size=8, critic_batch=8, critic_pretrain_steps=3,
                              optimizer="sgd", learning_rate=0.1, critic_learning_rate=0.1,
                              checkpoint_every=1000, log_every=1),
        runtime=RuntimeConfig(strategy=strategy))
    config.save(path)
    return path


def step_logs(run_dir: Path) -> dict:
    """{(tag, step): value} of every per-step TensorBoard scalar, pre-training included."""
    logs = {}
    for path in sorted((run_dir / "train").glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                logs[value.tag, event.step] = float(tf.make_ndarray(value.tensor))
    return logs


def weights(run_dir: Path) -> dict:
    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints" / f"ckpt-{STEPS}"))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
            if n.startswith(("predictor/", "critic/"))}


@pytest.mark.slow
def test_two_workers_equal_one_process(tmp_path):
    data_dir = generate_demo_dataset(tmp_path / "data", n_segments_dev=5, n_segments_eval=2,
                                     chunks_per_segment=4)
    env = {**os.environ, "ADMLC_DATA_HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    single = subprocess.run(
        [sys.executable, "train.py", "--config",
         write_config(tmp_path / "single.json", data_dir, tmp_path / "single", "mirrored"),
         "--quiet"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr

    config = write_config(tmp_path / "mw.json", data_dir, tmp_path / "mw", "multi-worker")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = []
    try:
        for index in range(2):
            tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            workers.append(subprocess.Popen(
                [sys.executable, "train.py", "--config", str(config), "--quiet"], cwd=REPO,
                env={**env, "TF_CONFIG": tf_config}, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True))
        outputs = [w.communicate(timeout=300) for w in workers]
    finally:
        for w in workers:
            w.kill()
            w.wait(timeout=30)
    for w, (out, err) in zip(workers, outputs):
        assert w.returncode == 0, err[-3000:]
    assert "Exported the predictor" in outputs[0][0]  # the chief reports and exports
    assert "Exported the predictor" not in outputs[1][0]
    assert not (tmp_path / "mw-models" / "mw" / "2").exists()  # one export, by the chief

    results = [json.loads((tmp_path / run / "results.json").read_text())
               for run in ("single", "mw")]
    assert [r["replicas"] for r in results] == [1, 2]
    expected_history, history = (r["history"] for r in results)
    assert [h["epoch"] for h in history] == [h["epoch"] for h in expected_history] == [1, 2]
    for expected_epoch, epoch in zip(expected_history, history):
        assert set(epoch) == set(expected_epoch)
        for name, value in expected_epoch.items():
            assert epoch[name] == pytest.approx(value, rel=1e-4, abs=1e-6, nan_ok=True), name
    expected_logs, logs = step_logs(tmp_path / "single"), step_logs(tmp_path / "mw")
    assert set(logs) == set(expected_logs)
    assert {step for tag, step in logs if tag.startswith("pretrain/")} == {1, 2, 3}
    assert {step for tag, step in logs if tag == "critic_loss"} == set(range(1, STEPS + 1))
    for key, value in expected_logs.items():
        assert logs[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    expected, got = weights(tmp_path / "single"), weights(tmp_path / "mw")
    assert set(got) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-4, atol=1e-5, err_msg=name)
