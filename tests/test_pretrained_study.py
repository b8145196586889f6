"""The pretrained front-end study (`benchmarks/pretrained_study.py`): one `--tiny` smoke in
process (stand-in sounds, random musicnn weights, two heads, no exports: the numbers mean
nothing). It screens the plain heads, then resumes with the critic, and checks what a plausible
bug would break: every system x seed in the JSON, the best head chosen on validation EER, the
reference paired seed by seed, and a resume that trains only the missing runs."""

import json

import pytest

from benchmarks import pretrained_study as study
from benchmarks import reproduce


@pytest.fixture
def heavy_graphs_back():
    """`--tiny` turns Grappler off for the process (reproduce.light_mode): on again after, so
    the other tests of this worker run as they always do."""
    yield
    import tensorflow as tf

    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": False})
    reproduce._LIGHT = False


def _reference(path, eers):
    """A critic study JSON whose CGRNN has mean EER `eers[seed]` (other measures 0.5)."""
    runs = [{"seed": s, "measures": {**{m: 0.5 for m, _, _ in reproduce.MEASURES},
                                     "mean_eer": e}} for s, e in enumerate(eers)]
    path.write_text(json.dumps({"audio": {"runs": {study.REFERENCE: runs},
                                          "data": {"summary": None}, "baseline": None}}))
    return path


@pytest.mark.slow
def test_tiny_study_pairs_by_seed_picks_the_head_on_val_and_resumes(tmp_path, capsys,
                                                                    heavy_graphs_back):
    out = tmp_path / "s"
    reference = _reference(tmp_path / "critic.json", [0.10, 0.90])
    common = ["--tiny", "--heads", "warp,bpmll", "--no-cost", "--reference", str(reference),
              "--out", str(out)]
    assert study.main([*common, "--paths", "heads"]) == 0
    first = json.loads(out.with_suffix(".json").read_text())
    assert first["this_invocation"] == {"trained": 4, "skipped": 0}

    assert study.main([*common, "--paths", "heads,critic", "--resume"]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    part = result["audio"]
    assert result["this_invocation"] == {"trained": 2, "skipped": 4}  # only the critic's
    best = part["best_head"]
    assert best["head"] == min(best["val_mean_eer"], key=best["val_mean_eer"].get)
    critic = study.head_name(best["head"], critic=True)
    assert set(part["runs"]) == {study.head_name("warp"), study.head_name("bpmll"), critic}
    assert all([r["seed"] for r in rs] == [0, 1] for rs in part["runs"].values())
    assert all(r["hardness_auc"] is not None for r in part["runs"][critic])

    # Paired with the reference's run of the same seed: seed 1's reference EER (0.90) is far
    # from seed 0's (0.10), so pairing seed 0 with seed 1 moves the mean difference.
    mine = {r["seed"]: r["measures"]["mean_eer"] for r in part["runs"][critic]}
    d = part["differences"][f"{critic} − {study.REFERENCE}"]["measures"]["mean_eer"]
    assert d["difference"]["seeds"] == [0, 1]
    assert d["difference"]["mean"] == pytest.approx((mine[0] - 0.10 + mine[1] - 0.90) / 2)
    plain = part["differences"][f"{critic} − {study.head_name(best['head'])}"]
    assert plain["against"] == study.head_name(best["head"])
    assert part["test_clips"]["count"] == 16  # the stand-in set's evaluation clips
    assert "| embeddings + warp, plain |" in out.with_suffix(".md").read_text()


@pytest.mark.parametrize("argv, says", [(["--heads", "warp,svm"], "--heads svm"),
                                        (["--paths", "critic,x"], "--paths x"),
                                        (["--seeds", "1"], "at least 2"),
                                        (["--resume"], "does not exist")])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, says):
    assert study.main([*argv, "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and "\n" not in err
