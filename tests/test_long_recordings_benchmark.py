"""Smoke test of `benchmarks/long_recordings.py --tiny`: it runs and writes well-formed results.

The numbers are not checked (tiny settings measure nothing; speed targets live in benchmarks/),
only that every measurement is present, finite and positive, so a broken child process or a
section that silently measures nothing fails here."""

from __future__ import annotations

import json
import math

import pytest

from tests.helpers import run_script



@pytest.mark.slow
def test_tiny_long_recordings_benchmark_writes_every_measurement(tmp_path):
    out, markdown = tmp_path / "long.json", tmp_path / "long.md"
    proc = run_script("benchmarks/long_recordings.py", "--tiny", "--json", out, "--markdown",
                      markdown, env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["tiny"] is True and report["machine"]["tensorflow"].startswith("2.")
    runs = report["results"]["long"]["runs"]
    assert set(runs) == {"tiny/0.25min/streamed", "tiny/0.25min/whole_file",
                         "tiny/0.5min/streamed", "tiny/0.5min/whole_file"}
    for run in runs.values():
        assert run["audio_seconds"] == pytest.approx(run["minutes"] * 60)
        assert run["rtf"] > 0 and run["peak_rss_mb"] > run["rss_before_mb"] > 0
    forms = report["results"]["latency"]["forms"]
    assert set(forms) == {"savedmodel", "tflite_float32", "tflite_int8"}
    for form in forms.values():
        assert 0 < form["p50_ms"] <= form["p99_ms"] and form["calls"] == 10
        assert math.isfinite(form["max_abs_diff_to_savedmodel"])
    assert forms["tflite_float32"]["max_abs_diff_to_savedmodel"] < 1e-4
    assert "real-time factor" in markdown.read_text() and report["table"] in markdown.read_text()
