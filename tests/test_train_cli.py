"""`train.py` and `evaluate.py` end to end, as a user runs them, on a tiny generated set."""

from __future__ import annotations

import json

import pytest

from admlc_tf.data.generated.demo import generate_demo_dataset
from tests.helpers import run_script

TINY_MODEL = ["--conv-filters", "4", "--gru-units", "8", "--critic-pretrain-steps", "3",
              "--batch-size", "8", "--epochs", "2", "--quiet"]




@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return generate_demo_dataset(root, n_segments_dev=5, n_segments_eval=2, chunks_per_segment=4)


@pytest.mark.slow
class TestTrainThenEvaluate:
    def test_trains_exports_and_evaluate_reproduces_the_eer(self, tiny_set, tmp_path):
        out, models = tmp_path / "run", tmp_path / "saved_models"
        train = run_script("train.py", "--data-dir", tiny_set, "--out", out, "--export-dir", models,
                    "--name", "tiny", "--plots", tmp_path / "plots", *TINY_MODEL,
                    data_home=tmp_path)
        assert train.returncode == 0, train.stderr
        assert "ave" in train.stdout and "Exported the predictor to" in train.stdout
        results = json.loads((out / "results.json").read_text())
        assert results["split"] == "evaluation" and results["n_chunks"] == 8
        assert results["export"] == str(models / "tiny" / "1")
        assert len(results["history"]) == 2
        config = json.loads((out / "config.json").read_text())
        assert config["data"]["data_dir"] == str(tiny_set)
        assert config["predictor"]["gru_units"] == [8]
        assert list((out / "checkpoints").glob("ckpt-*.index"))

        assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
            "roc_eer.png", "training_curves.png"]
        evaluate = run_script("evaluate.py", "--model", models / "tiny" / "1", "--data-dir", tiny_set,
                       "--json", tmp_path / "eer.json", "--plots", tmp_path / "eval_plots",
                       "--quiet", data_home=tmp_path)
        assert evaluate.returncode == 0, evaluate.stderr
        report = json.loads((tmp_path / "eer.json").read_text())
        assert sorted(p.name for p in (tmp_path / "eval_plots").iterdir()) == [
            "eer_bars.png", "roc_eer.png"]
        assert report["n_chunks"] == 8
        assert list(report["eer"]) == list("cmfvpbo")
        for label, value in results["eer"].items():
            assert report["eer"][label] == pytest.approx(value, abs=1e-6)

    def test_fold_and_plain_baseline(self, tiny_set, tmp_path):
        out = tmp_path / "run"
        train = run_script("train.py", "--data-dir", tiny_set, "--fold", "2", "--no-adversarial",
                    "--loss", "warp", "--out", out, "--export-dir", tmp_path / "m",
                    "--serving-hop", "1", "--serving-pooling", "mean", *TINY_MODEL,
                    data_home=tmp_path)
        assert train.returncode == 0, train.stderr
        results = json.loads((out / "results.json").read_text())
        assert results["split"] == "fold-2" and results["n_chunks"] == 4
        assert "critic_loss" not in results["history"][0]
        config = json.loads((out / "config.json").read_text())
        assert {k: config["loss"][k] for k in ("supervised", "adversarial", "lam")} == {
            "supervised": "warp", "adversarial": False, "lam": 0.1}
        exported = json.loads((tmp_path / "m" / "cgrnn" / "1" / "assets" /
                               "export_config.json").read_text())
        assert exported["serving"] == {"segment_samples": 64000, "hop_samples": 16000,
                                       "pooling": "mean"}


class TestArguments:
    def test_help_explains_the_paper_options(self):
        text = run_script("train.py", "--help", data_home="/nonexistent", in_process=True).stdout
        for flag in ("--data-dir", "--fold", "--loss", "--no-adversarial", "--lambda",
                     "--critic-every", "--critic-batch", "--critic-pretrain-steps", "--epochs",
                     "--batch-size", "--lr", "--seed", "--out"):
            assert flag in text

    def test_bad_settings_exit_2_with_one_line(self, tiny_set, tmp_path):
        stale = tmp_path / "stale.json"  # a config with a field this version does not have
        stale.write_text(json.dumps({"data": {"shuffle_buffer": 8192}}))
        # --fold is checked against a CHiME-Home set's folds: the tiny one, not the demo set
        # (generated first when no --data-dir is given, a minute of work before the refusal)
        for args, words in ((["--data-dir", tiny_set, "--fold", "7"], "--fold 7"),
                            (["--loss", "hinge"], "--loss hinge"),
                            (["--epochs", "0"], "--epochs 0"),
                            (["--precision", "float8"], "--precision float8"),
                            (["--config", stale], "shuffle_buffer")):
            result = run_script("train.py", *args, "--out", tmp_path / "r", data_home=tmp_path,
                                in_process=True)
            assert result.returncode == 2
            assert result.stderr.strip().splitlines()[-1].startswith("error: ")
            assert words in result.stderr
            assert not (tmp_path / "r").exists()

    def test_resuming_with_other_settings_is_refused(self, tiny_set, tmp_path):
        out = tmp_path / "run"
        out.mkdir()
        (out / "config.json").write_text(json.dumps({"loss": {"lam": 0.5}}))
        result = run_script("train.py", "--data-dir", tiny_set, "--out", out, *TINY_MODEL,
                            data_home=tmp_path, in_process=True)
        assert result.returncode == 2
        assert "--lambda: 0.5 -> 0.1" in result.stderr and "--force" in result.stderr
