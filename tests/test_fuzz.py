"""Seeded fuzzing of every reader (issue #24 item 4), on a small budget: `benchmarks/fuzz.py`'s
cases run in this process through the library functions the scripts call, each ended as
`admlc_tf.cli.run_cli` ends a script, and a handful through the real `predict.py`,
`evaluate.py` and `train.py`. The large budget is `python benchmarks/fuzz.py --cases 1000`.

A failing case is named `format:mutation:seed`; `python benchmarks/fuzz.py --replay <case>
--keep /tmp/case` runs it alone and keeps its files. A case's seed fixes its bytes only as long as
`benchmarks/fuzz_inputs.py` draws the same way: `FOUND` replays what the fuzzer found, so
a change there that moves them must keep their inputs (or find new ones).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from admlc_tf.errors import AdmlcError
from benchmarks import fuzz
from benchmarks import fuzz_inputs as inputs
from benchmarks.fuzz_inputs import Case
from tests.helpers import REPO

CI_CASES, CI_SEED = 128, 0  # 8 cases of each of the 16 formats
CI_LIMIT = 10.0  # seconds per entry point: ~100 times a case's usual cost on a busy machine

# What the fuzzer found, each fixed in its reader and given a row in
# docs/reference/bad-input.md; the exception the script showed before the fix.
FOUND = {
    "npz:bitflip:1155987418": "BadZipFile: Bad CRC-32 for file 'X.npy'",
    "npz:truncate:1087453478": "BadZipFile: File is not a zip file",
    "h5:splice:791142854": "KeyError: Unable to synchronously open object",
    "h5:structure:711546893": "TypeError: Accessing a group is done with bytes or str",
    "chime-home:encoding:715630675": "UnicodeDecodeError in a list file",
    "chime-home:nul:1726428966": "ValueError: embedded null byte",
    "export:config:1171177559": "JSONDecodeError of assets/export_config.json",
    "export:labels:2063861959": "ValueError: labels and scores of another shape",
    "wav:header:962428968": "a 3 Hz header: minutes resampling (timeout)",
    "flac:header:400993843": "MemoryError: 256 GiB for the 2^36 frames the header announces",
    "h5:splice:2013237830": "a hang in HDF5 (a global heap with a 0-size free object)",
    "bmp:header:1829411354": "DecompressionBombError",
    "gif:header:71493723": "DecompressionBombError",
    "arff:sparse:314702509": "IndexError on the sparse row {0 1,}",
    "labels-csv:columns:945570272": "an error of 4 lines (a stray quote; now escaped by AdmlcError)",
}


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    return fuzz.Workspace(tmp_path_factory.mktemp("fuzz"))


def replay_hint(record: dict) -> str:
    entries = "; ".join(f"{name}: {e['outcome']} {e['detail']}"
                        for name, e in record["entries"].items() if e["outcome"] in fuzz.FINDINGS)
    return f"{record['case']} ({entries}); replay: python benchmarks/fuzz.py --replay {record['case']}"


def test_the_oracle_tells_findings_from_the_cli_outcomes(tmp_path):
    """The checks themselves: a raw exception, a traceback printed and a hang are findings; an
    AdmlcError is exit 2 with one line; a temporary file is a leftover."""
    def raw():
        raise ValueError("boom")

    def two_lines():
        raise AdmlcError("first\nsecond")

    def printed():
        print("Traceback (most recent call last):", file=sys.stderr)

    def hang():
        time.sleep(5)

    def refused():
        raise AdmlcError("data file x does not exist: check the path")

    assert fuzz.end_like_cli(raw, 5)[0] == "crash"
    # AdmlcError escapes what it holds (admlc_tf.errors.printable): printed, it is one line
    outcome, detail = fuzz.end_like_cli(two_lines, 5)
    assert outcome == "refused" and "\n" not in detail
    assert fuzz.end_like_cli(printed, 5)[0] == "multi-line"
    assert fuzz.end_like_cli(hang, 0.2)[0] == "timeout"
    assert fuzz.end_like_cli(refused, 5) == ("refused", "data file x does not exist: check the path")
    assert fuzz.end_like_cli(lambda: [{"file": "a"}, {"file": "b", "error": "x"}], 5)[0] == "partial"
    (tmp_path / ".tags.csv.tmp-123").write_text("half")
    assert fuzz.leftovers(tmp_path) == [".tags.csv.tmp-123"]
    (tmp_path / "tags.csv").write_text("file\n")
    assert fuzz.check_outputs("refused", [tmp_path / "tags.csv"]) is not None


def test_cases_are_a_function_of_the_seed(space, tmp_path):
    """The same seed gives the same cases and the same bytes, so a finding can be replayed."""
    assert inputs.cases(40, 7) == inputs.cases(40, 7) != inputs.cases(40, 8)
    assert {c.format for c in inputs.cases(len(inputs.FORMATS), 0)} == set(inputs.FORMATS)
    written = []
    for run in ("a", "b"):
        folder = tmp_path / run
        fuzz.build(Case("wav", "header", 5), folder, space)
        written.append((folder / "data" / "audio" / "fuzzed.wav").read_bytes())
    assert written[0] == written[1]


@pytest.mark.parametrize("fmt", inputs.FORMATS)
def test_each_valid_input_is_read(space, fmt):
    """Unmutated, every format's input goes through every entry point: the fuzzer's refusals
    are the mutations', not a broken baseline's."""
    record = fuzz.run_case(Case(fmt, "none", 1), space, CI_LIMIT)
    assert {e["outcome"] for e in record["entries"].values()} == {"ok"}, record


def test_what_the_fuzzer_found_ends_in_one_line(space):
    records = [fuzz.run_case(Case.parse(case), space, CI_LIMIT) for case in FOUND]
    bad = [replay_hint(r) for r in records if r["outcome"] in fuzz.FINDINGS]
    assert not bad, "\n".join(bad)
    assert {r["outcome"] for r in records} == {"refused"}, [
        (r["case"], r["outcome"]) for r in records]


def test_a_header_of_1024_channels_at_768_khz_is_read_in_bounded_blocks(space, tmp_path):
    """A WAV whose fmt chunk claims 1,024 channels (libsndfile's most) at 768 kHz: train.py's
    and predict.py's blocks are capped in frames times channels instead of asking for 3 GB each
    (a MemoryError under the fuzzer's cap)."""
    import soundfile

    from admlc_tf.features import read_audio
    from admlc_tf.serving import streaming

    path = tmp_path / "wide.wav"
    soundfile.write(path, np.zeros((1024 * 2, 1), np.float32), 16000, subtype="PCM_U8")
    data = bytearray(path.read_bytes())
    data[22:24] = (1024).to_bytes(2, "little")  # channels
    data[24:28] = (768000).to_bytes(4, "little")  # frames per second
    data[28:32] = (768000 * 1024).to_bytes(4, "little")  # bytes per second
    data[32:34] = (1024).to_bytes(2, "little")  # bytes per frame: two frames of audio
    path.write_bytes(bytes(data))
    with fuzz.memory_cap(1 << 30):
        blocks = list(streaming.mono_blocks(path, sample_rate=16000, info=streaming.StreamInfo()))
        assert len(read_audio(path, sample_rate=16000)) == sum(map(len, blocks)) > 0


def test_every_case_ends_as_the_cli_would(space):
    """CI_CASES seeded cases: each ends within CI_LIMIT with exit 0, 1 or 2 and one line,
    leaves no temporary file, and writes its outputs whole or not at all."""
    start = time.perf_counter()
    records = [fuzz.run_case(case, space, CI_LIMIT) for case in inputs.cases(CI_CASES, CI_SEED)]
    found = fuzz.findings(records)
    assert not found, "\n".join(replay_hint(r) for r in found)
    summary = fuzz.counts(records)
    assert summary["cases"] >= 100 and set(summary["by_format"]) == set(inputs.FORMATS)
    # both ends are exercised: mutations the readers survive, and ones they refuse
    assert {"ok", "refused"} <= set(summary["by_outcome"]), summary
    print(f"{len(records)} cases in {time.perf_counter() - start:.1f} s: {summary['by_outcome']}")


def test_the_benchmark_writes_its_counts(tmp_path):
    out = tmp_path / "fuzz.json"
    assert fuzz.main(["--cases", "16", "--seed", "3", "--no-real-graph", "--json", str(out),
                      "--md", str(tmp_path / "fuzz.md")]) == 0
    report = json.loads(out.read_text())
    assert report["counts"]["cases"] == 16 and report["findings"] == []
    assert report["machine"]["cpu_model"] and report["date"]
    assert "| **all** |" in (tmp_path / "fuzz.md").read_text()


# --- through the scripts ------------------------------------------------------------------------

def script(name: str, *args, data_home: Path) -> subprocess.Popen:
    """`python <name> <args>` started, as `tests.helpers.run_script` runs it but not waited
    for."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["ADMLC_DATA_HOME"] = str(data_home)
    return subprocess.Popen([sys.executable, name, *map(str, args)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def one_line_errors(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    for line in stderr.splitlines():
        assert not line.startswith(" "), stderr  # a continuation: a message over lines


@pytest.mark.slow
class TestThroughTheScripts:
    """A handful of cases through the real entry points, the three at once (each imports
    TensorFlow: seconds that overlap)."""

    @pytest.fixture(scope="class")
    def export(self, tmp_path_factory):
        """A real SavedModel of the smallest predictor: the scripts' reading is under test, and
        a CGRNN's signatures take a minute to trace on a busy machine."""
        import keras

        model = keras.Sequential([keras.Input((249, 40)), keras.layers.GlobalAveragePooling1D(),
                                  keras.layers.Dense(len(inputs.LABELS))])
        return fuzz.real_export(tmp_path_factory.mktemp("real"), model)

    @pytest.fixture(scope="class")
    def space(self, tmp_path_factory):
        return fuzz.Workspace(tmp_path_factory.mktemp("fuzz"), warm=False)

    def test_predict_evaluate_and_train_end_as_in_process(self, export, space, tmp_path):
        audio = [c for c in inputs.cases(96, CI_SEED) if c.format in inputs.AUDIO][:9]
        clips = []
        for case in audio:
            fuzz.build(case, tmp_path / str(case).replace(":", "-"), space)
            suffix = {"jpeg": ".jpg"}.get(case.format, f".{case.format}")
            clips.append(tmp_path / str(case).replace(":", "-") / "data" / "audio"
                         / f"fuzzed{suffix}")
        layouts = [c for c in inputs.cases(256, CI_SEED) if c.format == "labels-csv"]
        train_case, eval_case = tmp_path / "train-case", tmp_path / "eval-case"
        # the stray quote that made a 4-line error (refused in-process: FOUND)
        fuzz.build(Case.parse("labels-csv:columns:945570272"), train_case, space)
        fuzz.build(layouts[1], eval_case, space)
        out = tmp_path / "out"
        out.mkdir()
        home = tmp_path / "home"
        running = {
            "predict": script("predict.py", "--model", export, space.clip, *clips, "--csv",
                              out / "tags.csv", "--json", out / "tags.json", "--quiet",
                              data_home=home),
            "evaluate": script("evaluate.py", "--model", export, "--data-dir",
                               eval_case / "data", "--cache-dir", tmp_path / "cache",
                               "--json", out / "eval.json", "--quiet", data_home=home),
            "train": script("train.py", "--data-dir", train_case / "data", "--cache-dir",
                            tmp_path / "cache", "--out", tmp_path / "run", "--export-dir",
                            tmp_path / "exports", "--epochs", "1", "--quiet", data_home=home),
        }
        done = {name: (p.wait(timeout=300), *p.communicate()) for name, p in running.items()}

        code, _, stderr = done["predict"]
        assert code in (0, 1), stderr
        one_line_errors(stderr)
        tagged = json.loads((out / "tags.json").read_text())
        assert len(tagged["files"]) + len(tagged["errors"]) == len(clips) + 1
        assert list(csv.DictReader((out / "tags.csv").open()))[0]["file"] == str(space.clip)

        code, _, stderr = done["evaluate"]
        assert code in (0, 2), stderr
        one_line_errors(stderr)
        assert (out / "eval.json").exists() == (code == 0)

        code, _, stderr = done["train"]
        assert code == 2 and stderr.startswith("error: ") and len(stderr.splitlines()) == 1, stderr
        one_line_errors(stderr)
        assert not (tmp_path / "run").exists() and not (tmp_path / "exports").exists()
        assert fuzz.leftovers(tmp_path) == []
