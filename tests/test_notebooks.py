"""The notebooks: each runs top to bottom with tiny settings, and is committed without outputs.

Each notebook is executed with nbclient in a fresh `python3` kernel started in `notebooks/`
(as Jupyter would), after a cell tagged `injected-parameters` is inserted below the cell tagged
`parameters` (papermill's convention): a tiny demo set, one epoch of a tiny model, output folders
under pytest's tmp_path. Any cell that raises fails the test.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from tests.helpers import REPO

NOTEBOOKS = REPO / "notebooks"
NOTEBOOK_NAMES = ["01_quickstart.ipynb", "02_dcase2016_table1.ipynb",
                  "03_image_tagging_table2.ipynb", "04_your_own_predictor.ipynb",
                  "05_your_own_audio.ipynb"]
FLOW = ["Setup", "Data", "Model", "Train", "Inference"]  # STYLE.md (g), after keras-io examples
CELL_TIMEOUT = 300  # seconds per cell

TINY_TRAINING = dict(EPOCHS=1, BATCH_SIZE=8, CRITIC_PRETRAIN_STEPS=1, VERBOSE=False)
TINY_CGRNN = dict(CONV_FILTERS=(4,), GRU_UNITS=(4,))
TABLE2_MODELS = ("warp", "c2ae")  # of the Table 2 notebook's four (the CLI's test runs all four)


def _parameters_cell_index(nb) -> int:
    tagged = [i for i, cell in enumerate(nb.cells)
              if "parameters" in cell.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "a notebook needs exactly one cell tagged `parameters`"
    return tagged[0]


def _inject(nb, parameters: dict) -> None:
    """Inserts `NAME = value` lines below the `parameters` cell, as papermill does."""
    source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(_parameters_cell_index(nb) + 1, cell)


def _images(nb) -> int:
    return sum("image/png" in output.get("data", {})
               for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs)


def _text(nb) -> str:
    return "".join(output.get("text", "") + output.get("data", {}).get("text/plain", "")
                   for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs)


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
    """The kernel's environment: a tmp data home, quiet TensorFlow, no GUI backend."""
    home = tmp_path_factory.mktemp("notebook-data-home")
    env = dict(os.environ, ADMLC_DATA_HOME=str(home), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("MPLBACKEND", None)  # the notebooks choose `%matplotlib inline` themselves
    return env


@pytest.fixture(scope="module")
def tiny_data_dir(tmp_path_factory):
    """A 28-chunk demo set (20 development, 8 evaluation) shared by the notebooks."""
    from admlc_tf.data.generated.demo import generate_demo_dataset

    root = tmp_path_factory.mktemp("notebook-data")
    return str(generate_demo_dataset(root, n_segments_dev=5, n_segments_eval=2,
                                     chunks_per_segment=4))


def execute(name: str, parameters: dict, env: dict):
    """Runs the notebook `name` with `parameters` injected; returns the executed notebook."""
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    _inject(nb, parameters)
    client = NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute(env=env)
    return nb


@pytest.mark.slow
class TestQuickstartNotebook:
    def test_runs_top_to_bottom(self, tmp_path, tiny_data_dir, kernel_env):
        out = tmp_path / "run"
        nb = execute("01_quickstart.ipynb",
                     dict(DATA_DIR=tiny_data_dir, OUT_DIR=str(out),
                          EXPORT_DIR=str(tmp_path / "models"), **TINY_TRAINING, **TINY_CGRNN),
                     kernel_env)
        assert (out / "results.json").is_file()
        assert (out / "training_curves.png").is_file() and (out / "roc_eer.png").is_file()
        assert (tmp_path / "models" / "quickstart" / "1" / "saved_model.pb").is_file()
        assert _images(nb) >= 2  # training curves and ROC curves shown inline


class TestTable1Notebook:
    def test_maps_each_of_the_four_systems_to_its_loss(self):
        """The four systems' (loss, critic) settings, read from the notebook's cell (the run
        below trains two of them: each system is the same `lifecycle.run` call)."""
        nb = nbformat.read(NOTEBOOKS / "02_dcase2016_table1.ipynb", as_version=4)
        cell = next(c.source for c in nb.cells
                    if c.cell_type == "code" and c.source.startswith("LOSSES = "))
        names = {}
        exec(cell[:cell.index("\n\n")], {}, names)  # the LOSSES literal, nothing else
        assert names["LOSSES"] == {"CE": ("ce", False), "WARP": ("warp", False),
                                   "AD-CE": ("ce", True), "AD-WARP": ("warp", True)}
        parameters = nb.cells[_parameters_cell_index(nb)].source
        assert 'SYSTEMS = ["CE", "WARP", "AD-CE", "AD-WARP"]' in parameters

    @pytest.mark.slow
    def test_runs_two_systems_top_to_bottom(self, tmp_path, tiny_data_dir, kernel_env):
        """CE without the critic and WARP with it (SYSTEMS injected): both losses, both arms."""
        out = tmp_path / "table1"
        nb = execute("02_dcase2016_table1.ipynb",
                     dict(DATA_DIR=tiny_data_dir, OUT_DIR=str(out), SYSTEMS=["CE", "AD-WARP"],
                          EXPORT_DIR=str(tmp_path / "models"), **TINY_TRAINING, **TINY_CGRNN),
                     kernel_env)
        assert (out / "eer_bars.png").is_file() and (out / "table1.json").is_file()
        assert sorted(json.loads((out / "table1.json").read_text())) == ["AD-WARP", "CE"]
        for system in ("ce", "ad-warp"):
            assert (out / system / "results.json").is_file()
            assert (tmp_path / "models" / f"table1-{system}" / "1" / "saved_model.pb").is_file()
        assert _images(nb) >= 2


@pytest.mark.slow
class TestTable2Notebook:
    def test_runs_protocol_on_synthetic_vectors(self, tmp_path, kernel_env):
        """No DATA_PATH: the notebook generates and saves its synthetic set, then runs 2 splits
        of two of its models (Ori. and AD: the MODELS parameter is honoured; all four models
        run through the same `run_protocol` in test_protocol.py) and both peers, plots the bars
        and tags a few examples;
        then trains on the generated shapes images (random backbone) and tags test images
        through the export's image_bytes signature."""
        out = tmp_path / "table2"
        nb = execute("03_image_tagging_table2.ipynb",
                     dict(OUT_DIR=str(out), N_EXAMPLES=60, REPEATS=2, TRAIN_SIZE=40,
                          MODELS=list(TABLE2_MODELS), INFERENCE_MODEL="c2ae", HIDDEN_UNITS=(8,), N_IMAGES=30, IMAGE_SIZE=32, IMAGE_EPOCHS=1,
                          IMAGE_BATCH_SIZE=8, **{**TINY_TRAINING, "BATCH_SIZE": 16}),
                     kernel_env)
        assert (out / "synth.npz").is_file()
        assert (out / "protocol.csv").is_file() and (out / "f1_bars.png").is_file()
        protocol = json.loads((out / "protocol.json").read_text())
        assert protocol["seeds"] == [0, 1] and protocol["train_size"] == 40
        systems = [f"{m}/{kind}" for m in TABLE2_MODELS
                   for kind in ("Ori.", "AD")] + ["mlp", "logreg"]
        assert sorted(protocol["summary"]) == sorted(systems)
        assert all(len(protocol["runs"][s]) == 2 for s in systems)
        text = _text(nb)
        assert "SYNTHETIC" in text and "Micro/macro F1 (%)" in text
        assert "predicted" in text and "truth" in text  # the Inference section's label sets
        assert _images(nb) >= 2  # the grouped F1 bars, the tagged test images
        # images -> tags: the shapes set, trained, exported, and tagged from its file bytes
        export = out / "models" / "images-notebook" / "1"
        config = json.loads((export / "assets" / "export_config.json").read_text())
        assert config["input"] == "image_bytes" and (out / "image_tags.png").is_file()
        tagged = [line for line in text.splitlines() if ": tagged " in line]
        assert tagged and all(line.startswith("images/shapes_") for line in tagged)


@pytest.mark.slow
class TestYourOwnPredictorNotebook:
    def test_runs_top_to_bottom(self, tmp_path, tiny_data_dir, kernel_env):
        out = tmp_path / "run"
        nb = execute("04_your_own_predictor.ipynb",
                     dict(DATA_DIR=tiny_data_dir, OUT_DIR=str(out),
                          EXPORT_DIR=str(tmp_path / "models"), FILTERS=4, **TINY_TRAINING),
                     kernel_env)
        assert (out / "training_curves.png").is_file()
        assert (tmp_path / "models" / "my-predictor" / "1" / "saved_model.pb").is_file()
        assert 'Model: "my_predictor"' in _text(nb)  # the user's model, summarised


@pytest.mark.slow
class TestYourOwnAudioNotebook:
    def test_runs_top_to_bottom(self, tmp_path, kernel_env):
        """No DATA_DIR: the notebook generates the labels.csv example set (and the DESED one
        for fine-tuning) under the kernel's data home, trains, tags and fine-tunes."""
        from admlc_tf.data.layouts.collection import assign_splits, splits_text
        from admlc_tf.data.generated.examples import EXAMPLES_VERSION, LABELS, example_labels
        from admlc_tf.data.layouts.registry import load_collection

        out, models = tmp_path / "own-audio", tmp_path / "models"
        nb = execute("05_your_own_audio.ipynb",
                     dict(OUT_DIR=str(out), EXPORT_DIR=str(models), N_CLIPS=20,
                          FINETUNE_EPOCHS=1, **TINY_TRAINING, **TINY_CGRNN),
                     kernel_env)
        text = _text(nb)
        for label in LABELS:  # the Data section's tables show every example label
            assert label in text
        export = models / "own-audio" / "1"
        labels = (export / "assets" / "labels.txt").read_text().splitlines()
        assert labels == example_labels("csv")  # the sorted example labels, as output order
        assert f"labels.txt: {labels}" in text  # what the Inference section printed
        # the export's splits are the ones assign_splits makes (and the notebook tabulated)
        examples = Path(kernel_env["ADMLC_DATA_HOME"]) / "examples"
        data_dir = examples / f"csv-20-clips-seed-0-v{EXAMPLES_VERSION}"
        assignment = assign_splits(load_collection(data_dir), seed=0)
        assert (export / "assets" / "splits.csv").read_text() == splits_text(assignment)
        assert (out / "train" / "results.json").is_file()
        assert "AUC" in text and "AP" in text and "EER" in text  # the report table
        test_clips = [name for name, split in assignment.items() if split == "test"][:4]
        tagged = [line.split(": tagged ")[0] for line in text.splitlines() if ": tagged " in line]
        assert tagged == test_clips  # tag_files ran on test clips, one record per file, in order
        # fine-tuning: from the first export, two of the DESED set's labels, in the given order
        tuned = models / "own-audio-finetuned" / "1"
        assert (tuned / "assets" / "labels.txt").read_text().splitlines() == [
            "Speech", "Dog bark"]
        config = json.loads((out / "finetune" / "config.json").read_text())
        assert config["trainer"]["init_from"] == str(export)
        assert config["trainer"]["freeze_epochs"] == 1
        assert Path(config["data"]["data_dir"]).name == f"desed-20-clips-seed-1-v{EXAMPLES_VERSION}"
        results = json.loads((out / "finetune" / "results.json").read_text())
        assert list(results["eer"]) == ["Speech", "Dog bark"]


class TestCommittedNotebooks:
    def test_every_notebook_is_listed(self):
        assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(NOTEBOOK_NAMES)

    @pytest.mark.parametrize("name", NOTEBOOK_NAMES)
    def test_outputs_are_stripped(self, name):
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [], f"{name}: a code cell has outputs; strip them"
                assert cell.execution_count is None, f"{name}: a code cell has a count"

    @pytest.mark.parametrize("name", NOTEBOOK_NAMES)
    def test_layout(self, name):
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        assert nb.metadata["kernelspec"]["name"] == "python3"
        first = nb.cells[0]
        assert first.cell_type == "markdown" and first.source.startswith("# ")
        assert "**Description:**" in first.source
        parameters = nb.cells[_parameters_cell_index(nb)]
        assert parameters.cell_type == "code"
        headings = [line[3:].strip() for cell in nb.cells if cell.cell_type == "markdown"
                    for line in cell.source.splitlines() if line.startswith("## ")]
        flow = [h for h in headings if h in FLOW]
        assert flow == FLOW, f"{name}: sections {headings}, expected {FLOW} in order"
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert "from admlc_tf" in code
        assert "\nclass " not in code and not code.startswith("class ")
