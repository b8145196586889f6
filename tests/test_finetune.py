"""Fine-tuning (`trainer.init_from`, `trainer.freeze_epochs`) through the audio recipe.

A tiny CGRNN is trained once on a generated CSV-layout set; the tests start other runs from its
export and its run folder, on a DESED-layout set with other labels.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from admlc_tf.config import DataConfig, PredictorConfig
from admlc_tf.data.generated.examples import write_example_set
from admlc_tf.errors import AdmlcError
from admlc_tf.serving.exported import ExportedPredictor
from admlc_tf.recipes.audio import demo_config, run

# Each test trains a source run and fine-tunes it end to end.
pytestmark = pytest.mark.slow

HEAD = "window_logits"


def tiny(data_dir, out, export, **trainer):
    config = demo_config()
    config.data = DataConfig(data_dir=str(data_dir))
    config.predictor = PredictorConfig(window_hop=27, conv_filters=(4,), gru_units=(4,),
                                       dense_units=8)
    config.out_dir, config.export_dir, config.name = str(out), str(export), out.name
    config.trainer = dataclasses.replace(config.trainer, epochs=1, batch_size=8, critic_batch=8,
                                         critic_pretrain_steps=1, **trainer)
    return config


def weights(export) -> dict:
    model = keras.models.load_model(f"{export}/assets/{ExportedPredictor.KERAS}", compile=False)
    return {layer.name: layer.get_weights() for layer in model.layers if layer.weights}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune")
    csv_set = write_example_set(root / "csv", n_clips=24)
    desed_set = write_example_set(root / "desed", layout="desed", n_clips=24, seed=1)
    results = run(tiny(csv_set, root / "source", root / "models"), verbose=False)
    return root, desed_set, results["export"]


def test_frozen_epochs_train_only_the_new_head(source):
    # Catches: --freeze-epochs that still moves the body (or its batch-norm statistics), or a
    # head loaded from a source with other labels.
    root, desed_set, export = source
    config = tiny(desed_set, root / "frozen", root / "models", init_from=export,
                  freeze_epochs=1)
    config.data.labels = ("Speech", "Dog bark")
    results = run(config, verbose=False)
    before, after = weights(export), weights(results["export"])
    assert after[HEAD][0].shape[-1] == 2 and before[HEAD][0].shape[-1] == 4
    for name, values in after.items():
        if name != HEAD:
            for a, b in zip(values, before[name]):
                np.testing.assert_array_equal(a, b, err_msg=name)


def test_unfrozen_fine_tuning_starts_from_the_source_and_moves_it(source):
    # Catches: --init-from silently ignored (fresh weights), or loaded and then frozen for good.
    root, desed_set, export = source
    config = tiny(desed_set, root / "unfrozen", root / "models", init_from=export)
    config.trainer.learning_rate = 1e-6  # one tiny step away from the source
    after, before = weights(run(config, verbose=False)["export"]), weights(export)
    distance = np.max(np.abs(after["bigru0"][0] - before["bigru0"][0]))  # a trained kernel
    assert 0 < distance < 1e-4


def test_a_run_folder_is_a_source_too(source):
    root, desed_set, _ = source
    config = tiny(desed_set, root / "from-run", root / "models", init_from=str(root / "source"),
                  freeze_epochs=1)
    after = weights(run(config, verbose=False)["export"])
    before = weights(root / "models" / "source" / "1")
    np.testing.assert_array_equal(after["bigru0"][0], before["bigru0"][0])


@pytest.mark.parametrize("change,phrase", [
    (lambda c: setattr(c.features, "n_mels", 32), "features.n_mels 40"),
    (lambda c: setattr(c.predictor, "gru_units", (6,)), "layer bigru0 has weights"),
])
def test_a_mismatch_is_one_line_naming_it(source, change, phrase):
    # Catches: weights loaded into a model of another shape (a crash deep in Keras) or features
    # computed another way than the source was trained on (silently wrong).
    root, desed_set, export = source
    config = tiny(desed_set, root / "mismatch", root / "models", init_from=export)
    change(config)
    with pytest.raises(AdmlcError) as info:
        run(config, verbose=False)
    assert phrase in str(info.value) and "\n" not in str(info.value)
    assert not (root / "mismatch").exists()  # refused before the run folder is made
