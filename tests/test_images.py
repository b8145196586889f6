"""Image tagging: image folders (labels.csv, CUB-200-2011), decoding every image mode, backbones,
the feature cache and its streamed rows, the image_bytes export, and train.py / predict.py end to
end on a tiny generated shapes set with a random backbone (nothing is downloaded)."""

from __future__ import annotations

import io
import json
import os
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from admlc_tf.data.images import read_image
from admlc_tf.data.layouts.cub import read_cub
from admlc_tf.data.layouts.registry import load_image_collection
from admlc_tf.errors import AdmlcError, DataError
from tests.helpers import REPO, run_script

SIZE = 32  # the smallest input keras.applications takes: cheap random backbones


def _pixels(height=20, width=30, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _smooth(height=40, width=48):
    """A smooth RGB image (JPEG keeps it nearly as is)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)],
                    axis=-1).astype(np.uint8)


def _csv_folder(root: Path, rows, images=None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = ["file,labels,split"]
    for i, (labels, split) in enumerate(rows):
        name = f"img{i}.png"
        Image.fromarray(_pixels(seed=i) if images is None else images[i]).save(root / name)
        lines.append(f"{name},{labels},{split}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


# --- reading collections ------------------------------------------------------------------

class TestCollections:
    def test_labels_csv_folder_uses_the_shared_reader_and_its_split(self, tmp_path):
        """Would fail if the image reader ignored the split column or the ';' convention."""
        root = _csv_folder(tmp_path / "set", [("cat;dog", "train"), ("dog", "test"),
                                              ("cat", "")])
        clips = load_image_collection(root)
        assert [c.labels for c in clips.clips] == [("cat", "dog"), ("dog",), ("cat",)]
        assert [c.split for c in clips.clips] == ["train", "test", None]

    def test_a_labels_file_anywhere_with_its_image_folder(self, tmp_path):
        """--labels-file + --audio-dir (the images' folder) for images too."""
        root = _csv_folder(tmp_path / "set", [("cat", "train"), ("dog", "test")])
        moved = tmp_path / "lists" / "mine.csv"
        moved.parent.mkdir()
        (root / "labels.csv").rename(moved)
        clips = load_image_collection(None, labels_file=moved, image_dir=root)
        assert [c.path for c in clips.clips] == [root / "img0.png", root / "img1.png"]

    def test_a_missing_listed_image_names_the_file_and_the_line(self, tmp_path):
        """Would fail if the audio wording leaked, or the line were not named."""
        root = _csv_folder(tmp_path / "set", [("cat", "train")])
        (root / "labels.csv").write_text("file,labels\nimg0.png,cat\ngone.jpg,dog\n")
        with pytest.raises(DataError, match=r"labels.csv:3: image file .*gone.jpg does not "
                                            "exist"):
            load_image_collection(root)

    def test_cub_attributes_splits_and_malformed_lines(self, tmp_path):
        """is_present == 1 whatever the certainty; the known extra-field lines are read; the
        train/test file decides the split. Would fail on a reader that used the certainty
        column, choked on the extra fields, or dropped CUB's split."""
        top = tmp_path / "CUB_archive"
        cub = top / "CUB_200_2011"
        (cub / "images" / "001.Bird").mkdir(parents=True)
        (cub / "attributes").mkdir()
        for i in (1, 2, 3):
            Image.fromarray(_pixels(seed=i)).save(cub / "images" / "001.Bird" / f"b{i}.jpg")
        (cub / "images.txt").write_text("".join(f"{i} 001.Bird/b{i}.jpg\n" for i in (1, 2, 3)))
        (cub / "train_test_split.txt").write_text("1 1\n2 0\n3 1\n")
        (top / "attributes.txt").write_text("1 has_bill_shape::curved\n2 has_wing_color::blue\n"
                                            "3 has_size::small\n")
        (cub / "attributes" / "image_attribute_labels.txt").write_text(
            "1 1 1 1 3.5\n"        # present, certainty 1 ("not visible"): still present
            "1 2 0 4 2.0\n"        # absent, certainty 4: absent
            "1 3 1 4 0 1.25\n"     # an extra field, as in the published file
            "2 1 0 3 1.0\n2 2 1 3 1.0\n2 3 0 3 1.0\n"
            + "".join(f"3 {a} 0 3 1.0\n" for a in (1, 2, 3)) + "\n" * 2)
        clips = read_cub(top)
        assert [c.labels for c in clips.clips] == [
            ("has_bill_shape::curved", "has_size::small"), ("has_wing_color::blue",), ()]
        assert [c.split for c in clips.clips] == ["train", "test", "train"]
        assert clips.vocabulary == ["has_bill_shape::curved", "has_wing_color::blue",
                                    "has_size::small"]
        assert load_image_collection(cub).layout == "cub"  # CUB_200_2011 itself works too
        # A file that is mostly garbage is refused rather than half read.
        (cub / "attributes" / "image_attribute_labels.txt").write_text("x y z\n" * 5 + "1 1 1\n")
        with pytest.raises(DataError, match="restore the file"):
            read_cub(top)


# --- decoding -----------------------------------------------------------------------------

def _save(image: Image.Image, path: Path, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


class TestReadImage:
    def test_every_mode_becomes_rgb_with_the_right_values(self, tmp_path):
        """Grayscale, 16-bit, palette (with transparency), RGBA, LA and CMYK read as RGB uint8.
        Would fail with Pillow's own I;16 -> L conversion (which clips instead of scaling), or
        with alpha blended in, or with a palette read as indices."""
        rgb = _pixels()
        gray = np.asarray(Image.fromarray(rgb).convert("L"))
        cases = {
            "gray.png": (Image.fromarray(rgb).convert("L"), np.repeat(gray[..., None], 3, 2)),
            "rgba.png": (Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)]),
                                         "RGBA"), rgb),
            "la.png": (Image.fromarray(rgb).convert("LA"), np.repeat(gray[..., None], 3, 2)),
        }
        palette = Image.fromarray(rgb).convert("P")
        cases["palette.png"] = (palette, np.asarray(palette.convert("RGB")))
        for name, (image, expected) in cases.items():
            assert np.array_equal(read_image(_save(image, tmp_path / name)), expected), name
        _save(palette, tmp_path / "transparent.png", transparency=0)
        assert np.array_equal(read_image(tmp_path / "transparent.png"), cases["palette.png"][1])
        sixteen = (gray.astype(np.uint16) * 257)
        sixteen[0, :3] = (65535, 32896, 0)
        got = read_image(_save(Image.fromarray(sixteen), tmp_path / "g16.png"))
        assert got.dtype == np.uint8 and got.shape == (*gray.shape, 3)
        assert list(got[0, :3, 0]) == [255, 128, 0]
        assert np.array_equal(got[1:, :, 0], gray[1:])
        cmyk = read_image(_save(Image.fromarray(_smooth()).convert("CMYK"), tmp_path / "c.jpg",
                                quality=100))
        assert np.abs(cmyk.astype(int) - _smooth()).mean() < 4

    @pytest.mark.parametrize("case", ["truncated", "not_an_image", "tiny", "missing", "empty"])
    def test_bad_files_are_one_line_naming_the_file(self, tmp_path, case):
        """Would fail if a bad file raised a raw PIL/OS error or decoded to garbage."""
        path = tmp_path / f"{case}.jpg"
        if case == "truncated":
            data = io.BytesIO()
            Image.fromarray(_smooth(64, 64)).save(data, format="JPEG")
            path.write_bytes(data.getvalue()[:400])
        elif case == "not_an_image":
            path.write_text("this is a text file with a .jpg name\n")
        elif case == "tiny":
            Image.fromarray(_pixels(7, 7)).save(path)
        elif case == "empty":
            path.write_bytes(b"")
        with pytest.raises(DataError) as error:
            read_image(path)
        message = str(error.value)
        assert str(path) in message and "\n" not in message


# --- decoding in the graph vs. on the host --------------------------------------------------

class TestGraphDecoding:
    def test_graph_decode_and_resize_match_the_host_path(self, tmp_path):
        """The export's in-graph decode + resize vs. training's Pillow decode + the same resize.
        Lossless formats (and a GIF's FIRST frame) must agree exactly; JPEG within the IDCT
        differences of two decoders. Would fail on a first/last-frame mix-up, a channel-order
        or scaling slip, or a different resize in the graph."""
        import tensorflow as tf

        from admlc_tf.backbones import decode_images, resize_image

        smooth = _smooth()
        frames = [Image.fromarray(smooth).convert("P"),
                  Image.fromarray(255 - smooth).convert("P")]
        files = {
            "rgb.png": _save(Image.fromarray(smooth), tmp_path / "rgb.png"),
            "rgb.bmp": _save(Image.fromarray(smooth), tmp_path / "rgb.bmp"),
            "gray.png": _save(Image.fromarray(smooth).convert("L"), tmp_path / "gray.png"),
            "rgba.png": _save(Image.fromarray(smooth).convert("RGBA"), tmp_path / "rgba.png"),
            "g16.png": _save(Image.fromarray(smooth[..., 0].astype(np.uint16) * 257),
                             tmp_path / "g16.png"),
            "anim.gif": _save(frames[0], tmp_path / "anim.gif", save_all=True,
                              append_images=frames[1:]),
            "rgb.jpg": _save(Image.fromarray(smooth), tmp_path / "rgb.jpg", quality=90),
            "cmyk.jpg": _save(Image.fromarray(smooth).convert("CMYK"), tmp_path / "cmyk.jpg",
                              quality=90),
        }
        graph = decode_images(tf.constant([p.read_bytes() for p in files.values()]), SIZE)
        for (name, path), in_graph in zip(files.items(), graph.numpy()):
            host = resize_image(read_image(path), SIZE).numpy()
            difference = np.abs(host - in_graph)
            if name.endswith(".jpg"):
                assert difference.mean() < 2.0 and difference.max() < 16, name
            else:
                assert difference.max() < 1.0, name


# --- backbones ----------------------------------------------------------------------------

class TestBackbones:
    def test_vgg16_gives_the_4096_d_fc2_layer(self):
        """The paper's features: would fail if the cut were at fc1, the logits or a pooling."""
        from admlc_tf.backbones import Extractor

        extractor = Extractor("vgg16", "random", SIZE)
        assert extractor.model.outputs[0].shape[-1] == 4096
        assert extractor.model.layers[-1].name == "fc2"
        assert extractor(np.zeros((2, SIZE, SIZE, 3), np.float32)).shape == (2, 4096)

    def test_random_weights_are_reproducible_and_hashed(self):
        """Would fail if a random backbone changed between runs (the cache and the export
        would then disagree) or if the hash ignored the weights."""
        from admlc_tf.backbones import Extractor

        a = Extractor("mobilenetv3small", "random", SIZE)
        b = Extractor("mobilenetv3small", "random", SIZE)
        assert a.weights_hash() == b.weights_hash() and a.dims == 576
        b.model.weights[0].assign(b.model.weights[0] + 1.0)
        assert a.weights_hash() != b.weights_hash()

    def test_a_weights_file_is_loaded_and_a_wrong_one_refused(self, tmp_path):
        """--backbone-weights PATH: would fail if the file were ignored (random weights kept)
        or a file of another network raised a raw Keras error."""
        from admlc_tf.backbones import Extractor

        trained = Extractor("mobilenetv3small", "random", SIZE)
        trained.model.weights[0].assign(trained.model.weights[0] * 2.0)
        trained.model.save_weights(tmp_path / "mine.weights.h5")
        loaded = Extractor("mobilenetv3small", str(tmp_path / "mine.weights.h5"), SIZE)
        assert loaded.weights_hash() == trained.weights_hash()
        assert loaded.weights_hash() != Extractor("mobilenetv3small", "random",
                                                  SIZE).weights_hash()
        with pytest.raises(AdmlcError) as error:
            Extractor("efficientnetv2-b0", str(tmp_path / "mine.weights.h5"), SIZE)
        assert "cannot be loaded into efficientnetv2-b0" in str(error.value)
        assert "\n" not in str(error.value)

    def test_settings_that_cannot_work_are_refused(self, tmp_path):
        from admlc_tf.backbones import check

        with pytest.raises(AdmlcError, match="resnet9 is not known: use one of vgg16"):
            check("resnet9", "random", 0)
        with pytest.raises(AdmlcError, match="takes 224 x 224"):
            check("vgg16", "imagenet", 64)
        with pytest.raises(AdmlcError, match="neither imagenet, random nor an existing file"):
            check("vgg16", str(tmp_path / "none.h5"), 0)
        check("vgg16", "random", 64)  # random fully connected layers fit any size

    def test_a_failed_download_is_one_line_naming_the_flag(self, monkeypatch):
        """What a user without network sees (simulated: nothing is downloaded)."""
        import keras

        from admlc_tf.backbones import Extractor
        from admlc_tf.cli import as_flags

        def offline(**kwargs):
            raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

        monkeypatch.setattr(keras.applications, "EfficientNetV2B0", offline)
        with pytest.raises(AdmlcError) as error:
            Extractor("efficientnetv2-b0", "imagenet", SIZE)
        sys.path.insert(0, str(REPO))
        try:
            from train import field_flags
        finally:
            sys.path.remove(str(REPO))
        message = as_flags(str(error.value), field_flags())
        assert "\n" not in message and "--backbone-weights" in message
        assert "random" in message and "weights file" in message


def test_train_py_defaults_demo_and_data():
    """Without data: the demo's random EfficientNetV2-B0 at 64 (nothing downloaded); with
    --data-dir: the paper's VGG-16 fc2 with imagenet weights at 224. Would fail if the demo
    picked a backbone that downloads, or --data-dir kept the demo's random weights."""
    sys.path.insert(0, str(REPO))
    try:
        from train import build_parser, config_from_args
    finally:
        sys.path.remove(str(REPO))
    demo = config_from_args(build_parser().parse_args(["--task", "images"]))
    assert (demo.task, demo.images.backbone, demo.images.backbone_weights,
            demo.images.image_size) == ("images", "efficientnetv2-b0", "random", 64)
    data = config_from_args(build_parser().parse_args(["--task", "images", "--data-dir", "x"]))
    assert (data.images.backbone, data.images.backbone_weights, data.images.image_size) == (
        "vgg16", "imagenet", 0)
    assert data.name == "images-warp" and data.model_name == "warp"


# --- the feature cache --------------------------------------------------------------------

class TestImageCache:
    def test_cache_is_reused_keyed_and_streamed_row_by_row(self, tmp_path):
        """Would fail if the cache were rebuilt every run, reused for another image size or a
        changed image, if streamed rows did not match their labels, or if the training stream
        held the matrix as a graph constant."""
        from admlc_tf.backbones import Extractor, resize_image
        from admlc_tf.data.image_cache import CachedMatrix, CachedRows, build_image_cache
        from admlc_tf.data.pipeline import training_stream

        root = _csv_folder(tmp_path / "set", [("a", "")] * 12)
        images = [(c.name, c.path) for c in load_image_collection(root).clips]
        extractor = Extractor("mobilenetv3small", "random", SIZE)
        first = build_image_cache(images, extractor, cache_dir=tmp_path / "c", batch_size=5,
                                  verbose=False)
        stamp = first.stat().st_mtime_ns
        assert build_image_cache(images, extractor, cache_dir=tmp_path / "c",
                                 verbose=False) == first
        assert first.stat().st_mtime_ns == stamp
        other = build_image_cache(images, Extractor("mobilenetv3small", "random", 40),
                                  cache_dir=tmp_path / "c", verbose=False)
        assert other != first
        os.utime(images[0][1], ns=(stamp, stamp + 10**9))
        assert build_image_cache(images, extractor, cache_dir=tmp_path / "c",
                                 verbose=False) not in (first, other)
        matrix = CachedMatrix(first)
        direct = extractor(np.stack([resize_image(read_image(p), SIZE).numpy()
                                     for _, p in images])).numpy()
        np.testing.assert_allclose(matrix[np.arange(12)], direct, rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(matrix[[5, 2, 5]], matrix[np.arange(12)][[5, 2, 5]])

        rows = CachedRows(first, [9, 1, 4, 7], np.eye(4, dtype=np.float32)[[3, 0, 1, 2]])
        x, y = next(iter(training_stream(rows, batch_size=4, seed=0)))
        for features, labels in zip(x.numpy(), y.numpy()):
            row = rows.rows[np.argmax(labels)]  # the label says which row it came with
            np.testing.assert_allclose(features, matrix[[row]][0], rtol=1e-6)
        every = CachedRows(first, np.arange(12), np.zeros((12, 2), np.float32))
        graph = training_stream(every, batch_size=4, seed=0)._as_serialized_graph().numpy()
        assert len(graph) < matrix[np.arange(12)].nbytes  # no [n, dims] constant inside

    def test_a_bad_image_stops_extraction_and_leaves_nothing(self, tmp_path):
        from admlc_tf.backbones import Extractor
        from admlc_tf.data.image_cache import build_image_cache

        root = _csv_folder(tmp_path / "set", [("a", "")] * 3)
        (root / "img1.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
        images = [(c.name, c.path) for c in load_image_collection(root).clips]
        with pytest.raises(DataError, match="img1.png"):
            build_image_cache(images, Extractor("mobilenetv3small", "random", SIZE),
                              cache_dir=tmp_path / "c", verbose=False)
        assert list((tmp_path / "c").iterdir()) == []


# --- exports say what they take -----------------------------------------------------------

def test_every_export_records_its_input(tmp_path):
    """export_config.json's "input" for a vector and an audio export (the image one is checked
    end to end below). Would fail if only the image export wrote it."""
    import keras

    from admlc_tf.config import FeatureConfig
    from admlc_tf.serving.export import export_predictor

    inputs = keras.Input((5,))
    vector = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    path = export_predictor(vector, base_dir=tmp_path, name="v", label_names=["a", "b"],
                            metadata={})
    assert json.loads((path / "assets" / "export_config.json").read_text())["input"] == \
        "features"
    features = FeatureConfig(chunk_seconds=0.5)
    frames = keras.Input((features.num_frames, features.n_mels))
    audio = keras.Model(frames, keras.layers.Dense(2)(keras.layers.Flatten()(frames)))
    path = export_predictor(audio, base_dir=tmp_path, name="a", label_names=["a", "b"],
                            metadata={}, features=features)
    assert json.loads((path / "assets" / "export_config.json").read_text())["input"] == \
        "waveform"


# --- train.py and predict.py end to end ---------------------------------------------------



TINY = ["--backbone", "efficientnetv2-b0", "--backbone-weights", "random", "--image-size",
        str(SIZE), "--epochs", "2", "--batch-size", "8", "--critic-pretrain-steps", "2",
        "--hidden-units", "16", "--quiet"]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    from admlc_tf.data.generated.image_demo import generate_image_demo

    return generate_image_demo(tmp_path_factory.mktemp("img") / "shapes", n_images=40)


@pytest.fixture(scope="module")
def trained(shapes, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("img-run")
    result = run_script("train.py", "--task", "images", "--data-dir", shapes, "--model", "warp",
                  "--threshold", "per_label", "--out", tmp / "run", "--export-dir",
                  tmp / "export", *TINY, data_home=tmp / "home")
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp, shapes


def test_a_bad_listed_image_stops_training_before_anything_is_written(shapes, tmp_path):
    """train.py (in this process: refused before any training) on a labels.csv with one
    truncated image: one line naming it, no run folder, no features cached."""
    broken = tmp_path / "broken"
    broken.mkdir()
    lines = (shapes / "labels.csv").read_text().splitlines()[:12]
    (broken / "labels.csv").write_text("\n".join(lines) + "\n")
    (broken / "images").mkdir()
    for line in lines[1:]:
        name = line.split(",")[0]
        (broken / name).write_bytes((shapes / name).read_bytes())
    first = lines[3].split(",")[0]
    (broken / first).write_bytes((shapes / first).read_bytes()[:200])
    result = run_script("train.py", "--task", "images", "--data-dir", broken, "--out",
                        tmp_path / "run", *TINY, data_home=tmp_path / "home", in_process=True)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and first in result.stderr
    assert not (tmp_path / "run").exists()
    assert not list((tmp_path / "home" / "features").glob("*"))


@pytest.mark.slow
class TestEndToEnd:
    def test_train_follows_the_data_split_and_exports_an_image_tagger(self, trained):
        """Would fail if --train-size overrode the data's split, or the export did not take
        image bytes, or its two signatures disagreed on the same image."""
        import tensorflow as tf

        from admlc_tf.backbones import Extractor, resize_image
        from admlc_tf.serving.exported import ExportedPredictor

        tmp, shapes = trained
        given = dict(line.split(",")[0::2] for line in
                     (shapes / "labels.csv").read_text().splitlines()[1:])
        splits = dict(line.split(",") for line in
                      (tmp / "run" / "splits.csv").read_text().splitlines()[1:])
        assert splits == given
        version = tmp / "export" / "images-warp" / "1"
        config = json.loads((version / "assets" / "export_config.json").read_text())
        assert config["input"] == "image_bytes" and config["image"]["image_size"] == SIZE
        labels = (version / "assets" / "labels.txt").read_text().splitlines()
        chosen = json.loads((version / "assets" / "thresholds.json").read_text())
        assert chosen["rule"] == "f1" and list(chosen["thresholds"]) == labels  # per label
        model = ExportedPredictor(version)
        path = shapes / "images" / "shapes_0000.png"
        by_bytes = model.serving_default(image_bytes=tf.constant([path.read_bytes()]))
        extractor = Extractor("efficientnetv2-b0", "random", SIZE)
        features = extractor(resize_image(read_image(path), SIZE)[None])
        np.testing.assert_allclose(by_bytes["probabilities"].numpy(),
                                   model(features)["probabilities"].numpy(), atol=1e-4)

    def test_predict_tags_a_folder_and_reports_a_bad_file(self, trained, tmp_path):
        """A batch with one bad image: that file on stderr, the others tagged, exit 1."""
        tmp, shapes = trained
        folder = tmp_path / "photos"
        folder.mkdir()
        for name in ("shapes_0000.png", "shapes_0003.jpg"):
            (folder / name).write_bytes((shapes / "images" / name).read_bytes())
        Image.fromarray(_smooth()).convert("CMYK").save(folder / "cmyk.jpg")
        (folder / "fake.jpg").write_text("not an image")
        result = run_script("predict.py", "--model", tmp / "export" / "images-warp" / "1", folder,
                      "--csv", tmp_path / "tags.csv", "--json", tmp_path / "tags.json",
                      "--quiet", data_home=tmp / "home")
        assert result.returncode == 1, result.stderr[-2000:]
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "fake.jpg" in errors[0]
        rows = (tmp_path / "tags.csv").read_text().splitlines()
        assert rows[0].startswith("file,width,height,") and len(rows) == 4
        report = json.loads((tmp_path / "tags.json").read_text())
        assert [Path(r["file"]).name for r in report["files"]] == [
            "cmyk.jpg", "shapes_0000.png", "shapes_0003.jpg"]
        assert report["files"][0]["mode"] == "CMYK"
        assert report["thresholds_used"].startswith("per label from assets/thresholds.json")
        assert rows[0].endswith(",labels")  # the thresholds: said once, in the JSON

    def test_protocol_draws_its_own_splits(self, shapes, tmp_path):
        """--protocol ignores the data's split and draws train_size examples per repeat."""
        from admlc_tf import lifecycle
        from admlc_tf.recipes.images import ImageProtocolRecipe, demo_config

        config = demo_config()
        config.data.data_dir, config.out_dir = str(shapes), str(tmp_path / "run")
        config.images.image_size = SIZE
        config.vectors.train_size, config.vectors.repeats = 24, 1
        config.vectors.hidden_units = (8,)
        config.trainer.epochs, config.trainer.batch_size = 1, 8
        config.trainer.critic_batch, config.trainer.critic_pretrain_steps = 8, 1
        results = lifecycle.run(config, recipe=ImageProtocolRecipe(models=("bpmll",),
                                                                   peers=("logreg",)),
                                verbose=False)
        assert results["train_size"] == 24 and results["n_examples"] == 40
        assert set(results["summary"]) == {"bpmll/Ori.", "bpmll/AD", "logreg"}
