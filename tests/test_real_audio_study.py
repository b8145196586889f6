"""The real-recording study's `--tiny` smoke: every system, measure and baseline reaches the
JSON and the table (stand-in sounds, tiny models: the numbers mean nothing)."""

import json

import pytest

from tests.helpers import run_script


@pytest.mark.slow
def test_tiny_study_writes_every_system_the_baseline_and_the_critic_cue(tmp_path):
    """Catches a variant that is not run or mislabelled (augmentation on in the "no
    augmentation" systems), a critic cue computed for plain runs, a missing baseline or scene
    part, and AD - plain intervals that pair the wrong runs."""
    out = tmp_path / "study"
    result = run_script("benchmarks/real_audio_study.py", "--tiny", "--out", out,
                        data_home=tmp_path / "home", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    study = json.loads(out.with_suffix(".json").read_text())
    audio = study["audio"]
    systems = {f"{m}, {a}" for m in ("plain", "AD") for a in ("no augmentation", "augmentation")}
    assert set(audio["runs"]) == systems
    for name, runs in audio["runs"].items():
        assert [r["seed"] for r in runs] == study["seeds"] == [0, 1]
        for run in runs:
            assert 0 <= run["measures"]["mean_eer"] <= 1
            assert (run["hardness_auc"] is None) == name.startswith("plain")
    assert audio["settings"]["augmentation"]["spec_augment"]
    for aug, diff in audio["differences"].items():
        seeds = diff["mean_eer"]["difference"]["seeds"]
        assert seeds == [0, 1], aug
        plain = [r["measures"]["mean_eer"] for r in audio["runs"][f"plain, {aug}"]]
        ad = [r["measures"]["mean_eer"] for r in audio["runs"][f"AD, {aug}"]]
        assert abs(diff["mean_eer"]["difference"]["mean"]
                   - sum(a - p for a, p in zip(ad, plain)) / 2) < 1e-9
    assert 0 <= audio["baseline"]["mean_eer"]["mean"] <= 1
    scene = study["scene"]
    assert scene["synthetic"] and {"logistic regression C=1", "logistic regression, C tuned"} \
        <= set(scene["runs"])
    table = out.with_suffix(".md").read_text()
    assert "logistic regression" in table and "AD, augmentation" in table
