"""Smoke test of `benchmarks/run.py` (issue #5): the command runs with tiny settings and writes
well-formed JSON. The numbers themselves are not checked: benchmarks are not part of the suite's
timing, and tiny settings measure nothing."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks.levers import PIPELINE_VARIANTS, STEP_VARIANTS
from tests.helpers import run_script



def _numbers(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


@pytest.mark.slow
def test_tiny_benchmark_runs_and_writes_well_formed_json(tmp_path):
    out = tmp_path / "results.json"
    proc = run_script("benchmarks/run.py", "--tiny", "--json", out,
                      env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())

    assert report["tiny"] is True and report["schema"] == 1
    machine = report["machine"]
    assert machine["cpu_model"] and machine["logical_cores"] >= 1
    assert machine["tensorflow"].startswith("2.")
    assert set(report["results"]) == {"step", "step_bpmll", "step_c2ae", "fit", "features",
                                      "serving", "memory", "levers"}
    assert all("error" not in section for section in report["results"].values())
    assert all(math.isfinite(x) for x in _numbers(report["results"]))

    step = report["results"]["step"]
    assert set(step["seconds_per_step"]) == {"plain", "adversarial_l1", "adversarial_l2",
                                             "adversarial_l5"}
    assert all(v > 0 for v in step["seconds_per_step"].values())
    assert set(step["ratio_to_plain"]) == {"adversarial_l1", "adversarial_l2", "adversarial_l5"}
    for key in ("step_bpmll", "step_c2ae"):
        assert set(report["results"][key]["ratio_to_plain"]) == set(step["ratio_to_plain"])
    fit = report["results"]["fit"]
    assert fit["samples_per_second"]["custom_loop"] > 0
    assert fit["samples_per_second"]["keras_fit"] > 0
    features = report["results"]["features"]
    assert features["chunks_per_second"]["offline_cache_librosa"] > 0
    assert features["chunks_per_second"]["in_graph_logmel_batch32"] > 0
    assert features["dcase_cache_build_seconds_extrapolated"] > 0
    serving = report["results"]["serving"]["signatures"]
    assert set(serving) == {"serving_default", "features"}
    for sig in serving.values():
        assert 0 < sig["one_clip_p50_ms"] <= sig["one_clip_p99_ms"]
        assert sig["batch32_clips_per_second"] > 0
        assert sig["achieved_gflops_per_second_one_clip"] > 0
    assert report["results"]["serving"]["gflops_per_clip"]["total"] > 0
    memory = report["results"]["memory"]
    assert memory["runs"]["dcase_sized"]["peak_rss_mb"] > 0
    assert memory["runs"]["dcase_sized"]["steps"] > 0

    levers = report["results"]["levers"]
    # Every step lever either ran or says why not; every pipeline variant ran.
    step_levers = levers["step"]
    assert set(step_levers["seconds_per_step"]) | set(step_levers["errors"]) == {
        "plain", *STEP_VARIANTS}
    assert set(levers["pipeline"]["samples_per_second"]) == set(PIPELINE_VARIANTS)
    assert all(v > 0 for v in levers["pipeline"]["samples_per_second"].values())

    ids = {t["id"] for t in report["targets"]}
    assert {"step_ratio_l1", "step_bpmll_ratio_l1", "step_c2ae_ratio_l1", "fit_ratio", "serving_serving_default_p50",
            "serving_features_p50", "memory_streams"} <= ids
    assert all(isinstance(t["met"], bool) for t in report["targets"])
    # The printed table is the one stored in the JSON, and names the machine.
    assert report["table"] in proc.stdout
    assert machine["cpu_model"] in report["table"] and "TensorFlow" in report["table"]


def test_unknown_section_is_refused():
    proc = run_script("benchmarks/run.py", "--only", "step,nope", in_process=True)
    assert proc.returncode == 2
    assert "unknown section(s) nope" in proc.stderr
