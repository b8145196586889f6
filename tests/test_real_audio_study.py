"""The real-recording critic study (`benchmarks/real_audio_study.py`): its pairing of AD systems
with plain ones (no training), its one-line bad-input exits, and a `--tiny` smoke that screens
two systems, then resumes with a third, checking that only the missing runs are trained (stand-in
sounds, tiny models: the numbers mean nothing)."""

import json
import math
from pathlib import Path

import pytest

from benchmarks import real_audio_study as study
from benchmarks import reproduce
from tests.helpers import run_script


def _run(seed, eer):
    return {"seed": seed, "measures": {m: eer for m, _, _ in reproduce.MEASURES}}


def _info(loss, arm, system):
    return {"loss": loss, "arm": arm, "system": system,
            "mode": None if system == "plain" else system[3:],
            "plain": f"{loss.upper()} plain, {arm}"}


def test_each_ad_system_is_paired_with_its_own_plain_and_the_best_plain_of_its_loss():
    """Catches a "best plain" taken from the other loss or by the highest EER, an AD system
    paired with the plain run of another arm as "same arm", a comparison repeated when the
    best plain is the same-arm one, and differences taken plain - AD."""
    runs, info = {}, {}
    eers = {("ce", "no augmentation", "plain"): 0.30, ("ce", "augmentation", "plain"): 0.25,
            ("ce", "no augmentation", "AD value"): 0.20, ("ce", "augmentation", "AD value"): 0.22,
            ("warp", "no augmentation", "plain"): 0.10, ("warp", "augmentation", "plain"): 0.40,
            ("warp", "augmentation", "AD value"): 0.35}
    for (loss, arm, system), eer in eers.items():
        name = f"{loss.upper()} {system}, {arm}"
        info[name] = _info(loss, arm, system)
        runs[name] = [_run(s, eer + 0.001 * s) for s in range(3)]
    best = study.best_plain(runs, info)
    assert best["ce"]["system"] == "CE plain, augmentation"
    assert best["warp"]["system"] == "WARP plain, no augmentation"
    diffs = study.differences(runs, info, best)
    pairs = sorted((d["ad"], d["plain"], d["against"]) for d in diffs.values())
    assert pairs == sorted([
        ("CE AD value, no augmentation", "CE plain, no augmentation", "plain, same arm"),
        ("CE AD value, no augmentation", "CE plain, augmentation", "best plain"),
        ("CE AD value, augmentation", "CE plain, augmentation", "plain, same arm"),
        ("WARP AD value, augmentation", "WARP plain, augmentation", "plain, same arm"),
        ("WARP AD value, augmentation", "WARP plain, no augmentation", "best plain")])
    d = diffs["CE AD value, no augmentation − CE plain, augmentation"]["measures"]["mean_eer"]
    assert d["difference"]["mean"] == pytest.approx(0.20 - 0.25)
    assert d["difference"]["seeds"] == [0, 1, 2] and d["verdict"] == "AD better"
    assert set(diffs["CE AD value, augmentation − CE plain, augmentation"]["measures"]) == set(
        study.COMPARED)


@pytest.mark.parametrize("argv, says", [
    (["--modes", "paper,bogus"], "--modes bogus"),
    (["--losses", "ce,l3"], "--losses l3"),
    (["--only-systems", "plain,AD nope"], "AD nope"),
    (["--resume"], "does not exist"),
    (["--data-dir", "/nonexistent/set"], "real_audio.py build"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, says):
    """Catches a traceback (or a silent default) for an unknown mode, loss or system, a resume
    without a study, and a --data-dir without labels.csv."""
    assert study.main([*argv, "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and "\n" not in err and "Traceback" not in err


def _tiny(out: Path, *extra: str) -> dict:
    proc = run_script("benchmarks/real_audio_study.py", "--tiny", "--losses", "ce", "--arms",
                      "none", "--modes", "paper,value", "--out", out, *extra,
                      env={"TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.with_suffix(".json").read_text())


@pytest.mark.slow
def test_tiny_screen_then_resume_trains_only_the_missing_runs(tmp_path):
    """Catches --resume retraining runs already in the JSON (or dropping them), a study that
    is not written before the end, a mode's runs filed under another mode, a critic cue for
    plain runs or none for AD ones, NaN in the JSON, and a --report-only markdown that differs
    from the study's own."""
    out = tmp_path / "study"
    first = _tiny(out, "--only-systems", "plain,paper")
    audio = first["audio"]
    assert first["complete"] and first["this_invocation"] == {"trained": 4, "skipped": 0}
    assert set(audio["runs"]) == {"CE plain, no augmentation", "CE AD paper, no augmentation"}
    kept = {name: [r["seconds"] for r in runs] for name, runs in audio["runs"].items()}

    second = _tiny(out, "--resume")  # the rest: only AD value is missing
    assert second["this_invocation"] == {"trained": 2, "skipped": 4}
    assert second["trained_runs"] == 6
    audio = second["audio"]
    names = {"CE plain, no augmentation", "CE AD paper, no augmentation",
             "CE AD value, no augmentation"}
    assert set(audio["runs"]) == set(audio["summary"]) == names
    for name, seconds in kept.items():  # the screened runs are kept as they were
        assert [r["seconds"] for r in audio["runs"][name]] == seconds
    for name, runs in audio["runs"].items():
        assert [r["seed"] for r in runs] == [0, 1], name
        for run in runs:
            assert all(v is None or math.isfinite(v) for v in run["measures"].values())
            assert 0 <= run["measures"]["mean_eer"] <= 1
            cue = run["hardness_auc"]
            assert (cue is None) == (" plain" in name), name
            assert cue is None or 0 <= cue <= 1
    assert audio["systems"]["CE AD value, no augmentation"]["mode"] == "value"
    assert audio["best_plain"]["ce"]["system"] == "CE plain, no augmentation"
    assert {d["mode"] for d in audio["differences"].values()} == {"paper", "value"}
    for d in audio["differences"].values():
        assert set(d["measures"]) == set(study.COMPARED)
        interval = d["measures"]["mean_eer"]["difference"]
        assert interval["seeds"] == [0, 1] and math.isfinite(interval["low"])
    assert 0 <= audio["baseline"]["mean_eer"]["mean"] <= 1

    table = out.with_suffix(".md").read_text()
    assert "CE AD value, no augmentation" in table and "logistic regression" in table
    out.with_suffix(".md").unlink()
    assert study.main(["--report-only", "--out", str(out)]) == 0
    assert out.with_suffix(".md").read_text() == table
