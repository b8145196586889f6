"""`train.py --task features`: one model end to end, and the Table 2 protocol end to end."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from sklearn.datasets import make_multilabel_classification

from admlc_tf.data.vectors.arff import write_arff, write_mulan_xml
from admlc_tf.data.vectors.formats import save_npz
from admlc_tf.serving.exported import ExportedPredictor
from tests.helpers import run_script

TINY = ["--hidden-units", "16", "--epochs", "3", "--batch-size", "16",
        "--critic-pretrain-steps", "2", "--quiet"]


def generated(n=120, seed=0):
    x, y = make_multilabel_classification(n_samples=n, n_features=12, n_classes=5, n_labels=2,
                                          random_state=seed)
    return x.astype(np.float32), y.astype(np.float32)


def train(*args, tmp_path, in_process=False):
    """`train.py --task features`; `in_process` for calls refused before any training."""
    return run_script("train.py", "--task", "features", *args, data_home=tmp_path, timeout=900,
                      in_process=in_process)


@pytest.mark.slow
def test_protocol_on_arff_and_xml_writes_the_table(tmp_path):
    x, y = generated()
    names = [f"tag{i}" for i in range(5)]
    write_arff(tmp_path / "gen.arff", x, y, relation="generated", label_names=names)
    write_mulan_xml(tmp_path / "gen.xml", names)
    out = tmp_path / "protocol"
    result = train("--data", tmp_path / "gen.arff", "--protocol", "--repeats", "2",
                   "--train-size", "80", "--threshold", "per_label", "--out", out, *TINY,
                   tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    table = result.stdout[result.stdout.index("Micro/macro F1"):]
    for word in ("deep-cplst", "warp", "bpmll", "c2ae", "Ori.", "AD", "mlp", "logreg",
                 "MicF1", "MacF1", "gen"):
        assert word in table, word
    results = json.loads((out / "protocol.json").read_text())
    assert results["seeds"] == [0, 1] and results["train_size"] == 80
    assert results["thresholding"] == "per_label"
    systems = {f"{m}/{v}" for m in ("deep-cplst", "warp", "bpmll", "c2ae")
               for v in ("Ori.", "AD")} | {"mlp", "logreg"}
    assert set(results["runs"]) == systems
    for system, reports in results["runs"].items():
        assert len(reports) == 2, system
        assert reports[0]["thresholding"]["method"] == "per_label"
        assert 0 <= results["summary"][system]["micro_f1"]["mean"] <= 1
    rows = list(csv.DictReader((out / "protocol.csv").open()))
    assert {r["system"] for r in rows} == systems
    assert {"micro_f1", "macro_f1", "hamming_loss"} <= {r["metric"] for r in rows}


@pytest.mark.slow
@pytest.mark.parametrize("model", ["deep-cplst", "c2ae"])
def test_one_model_trains_and_exports(model, tmp_path):
    x, y = generated()
    save_npz(tmp_path / "gen.npz", x, y, label_names=list("abcde"))
    result = train("--data", tmp_path / "gen.npz", "--model", model, "--train-size", "0.7",
                   "--out", tmp_path / "run", "--export-dir", tmp_path / "models", *TINY,
                   tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "micro_f1" in result.stdout
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["n_test"] == 36
    exported = ExportedPredictor(tmp_path / "models" / model / "1")
    assert exported.label_names == list("abcde")
    out = exported(x[:3])
    assert out["probabilities"].shape == (3, 5)
    assert ("scores" if model == "deep-cplst" else "logits") in out


def test_bad_vector_inputs_exit_2(tmp_path):
    x, y = generated(20)
    x[3, 4] = np.nan
    save_npz(tmp_path / "nan.npz", x, y)
    result = train("--data", tmp_path / "nan.npz", "--out", tmp_path / "r", *TINY,
                   tmp_path=tmp_path, in_process=True)
    assert result.returncode == 2
    assert "nan.npz" in result.stderr.strip().splitlines()[-1]
    missing = train("--model", "warp", "--out", tmp_path / "r", tmp_path=tmp_path,
                    in_process=True)
    assert missing.returncode == 2 and "--data" in missing.stderr


@pytest.mark.slow
def test_one_run_trains_on_the_whole_file_and_scores_a_test_file(tmp_path):
    """Catches a single run that silently trains on half the rows (the protocol's r), a
    `--test-data` that is ignored or mixed into training, and a test file of other labels
    accepted."""
    x, y = generated(n=150)
    save_npz(tmp_path / "train.npz", x[:100], y[:100], label_names=list("abcde"))
    save_npz(tmp_path / "test.npz", x[100:], y[100:], label_names=list("abcde"))
    result = train("--data", tmp_path / "train.npz", "--model", "warp", "--out",
                   tmp_path / "run", "--export-dir", tmp_path / "models", *TINY,
                   tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["n_train"] == 100 and results["n_test"] == 10  # the validation part
    assert results["scored"].startswith("validation")
    assert "validation part" in result.stdout

    result = train("--data", tmp_path / "train.npz", "--test-data", tmp_path / "test.npz",
                   "--model", "warp", "--out", tmp_path / "run2", "--export-dir",
                   tmp_path / "models", *TINY, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "run2" / "results.json").read_text())
    assert results["n_train"] == 100 and results["n_test"] == 50
    assert results["scored"] == "test"
    assert results["early_stopping"]["monitor"] == "val_ranking_loss"

    save_npz(tmp_path / "other.npz", x[100:], y[100:], label_names=list("vwxyz"))
    result = train("--data", tmp_path / "train.npz", "--test-data", tmp_path / "other.npz",
                   "--out", tmp_path / "run3", *TINY, tmp_path=tmp_path, in_process=True)
    assert result.returncode == 2
    assert "other.npz" in result.stderr and "same labels" in result.stderr
    assert not (tmp_path / "run3").exists()
