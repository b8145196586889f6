"""Feature-vector sets: every format round-trips; each inconsistency is a one-line DataError."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.io
from sklearn.datasets import make_multilabel_classification

from admlc_tf.data.vectors import formats as vectors
from admlc_tf.data.vectors.arff import write_arff, write_mulan_xml
from admlc_tf.data.vectors.formats import VectorDataset, load_vectors, save_h5, save_npz
from admlc_tf.data.vectors.splits import random_split, train_validation_split
from admlc_tf.errors import DataError

N, D, L = 60, 12, 5
LABEL_NAMES = ["beach", "sunset", "fall foliage", "field's", "urban"]  # a space and a quote


@pytest.fixture(scope="module")
def data():
    x, y = make_multilabel_classification(n_samples=N, n_features=D, n_classes=L,
                                          random_state=0)
    rng = np.random.default_rng(0)
    x = (x * rng.normal(size=D)).astype(np.float32)  # non-integer values, some negative
    x[:, 3] = 0.0  # a zero column, so sparse rows omit entries
    return x, y.astype(np.float32)


def write_mat73(path, variables):
    """A MATLAB v7.3-style file: HDF5 behind a 512-byte header, arrays column-major (transposed)."""
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            ds = f.create_dataset(name, data=np.asarray(value, np.float64).T)
            ds.attrs["MATLAB_class"] = np.bytes_("double")
    with open(path, "r+b") as f:
        text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: test HDF5 schema 1.00 ."
        f.write(text.ljust(116, b" ") + bytes(8) + b"\x00\x02IM")  # version 2.0, little-endian


def assert_round_trip(ds: VectorDataset, x, y, names=LABEL_NAMES):
    assert isinstance(ds, VectorDataset)
    assert ds.features.dtype == np.float32 and ds.labels.dtype == np.float32
    np.testing.assert_array_equal(ds.features, x)
    np.testing.assert_array_equal(ds.labels, y)
    assert ds.label_names == list(names)
    assert (ds.num_examples, ds.num_features, ds.num_labels) == (N, D, L)


def error_message(excinfo, path):
    message = str(excinfo.value)
    assert "\n" not in message
    assert str(path) in message
    return message


class TestRoundTrip:

    @pytest.mark.parametrize("sparse", [False, True])
    def test_mulan_arff_with_xml(self, tmp_path, data, sparse):
        x, y = data
        path = write_arff(tmp_path / "scene.arff", x, y, relation="scene",
                          label_names=LABEL_NAMES, sparse=sparse)
        write_mulan_xml(tmp_path / "scene.xml", LABEL_NAMES)
        ds = load_vectors(path)
        assert_round_trip(ds, x, y)
        assert ds.feature_names == [f"f{i}" for i in range(D)]
        assert ds.source == path
        if sparse:
            assert path.read_text().splitlines()[-1].startswith("{")

    def test_explicit_xml_path(self, tmp_path, data):
        x, y = data
        path = write_arff(tmp_path / "train.arff", x, y, relation="scene", label_names=LABEL_NAMES)
        xml = write_mulan_xml(tmp_path / "labels.xml", LABEL_NAMES)
        assert_round_trip(load_vectors(path, labels_xml=xml), x, y)

    def test_xml_order_defines_label_order(self, tmp_path, data):
        x, y = data
        path = write_arff(tmp_path / "s.arff", x, y, relation="s", label_names=LABEL_NAMES)
        write_mulan_xml(tmp_path / "s.xml", LABEL_NAMES[::-1])
        assert_round_trip(load_vectors(path), x, y[:, ::-1], LABEL_NAMES[::-1])

    @pytest.mark.parametrize("meka", ["first", "last"])
    @pytest.mark.parametrize("sparse", [False, True])
    def test_meka_header(self, tmp_path, data, meka, sparse):
        x, y = data
        path = write_arff(tmp_path / "scene.arff", x, y, relation="scene",
                          label_names=LABEL_NAMES, sparse=sparse, meka=meka)
        header = [line for line in path.read_text().splitlines() if line.startswith("@relation")]
        assert header == [f"@relation 'scene: -C {L if meka == 'first' else -L}'"]
        assert_round_trip(load_vectors(path), x, y)

    def test_meka_and_matching_xml(self, tmp_path, data):
        x, y = data
        path = write_arff(tmp_path / "s.arff", x, y, relation="s", label_names=LABEL_NAMES,
                          meka=True)
        write_mulan_xml(tmp_path / "s.xml", LABEL_NAMES)
        assert_round_trip(load_vectors(path), x, y)

    def test_num_labels_takes_the_last_attributes(self, tmp_path, data):
        x, y = data
        path = write_arff(tmp_path / "s.arff", x, y, relation="s", label_names=LABEL_NAMES)
        assert_round_trip(load_vectors(path, num_labels=L), x, y)

    def test_hand_written_arff(self, tmp_path):
        path = tmp_path / "hand.arff"
        path.write_text(
            "% a comment\n"
            "@RELATION \"tiny\"\n\n"
            "@Attribute 'first feature' REAL\n"
            "@attribute f2 Integer\n"
            "% another comment\n"
            "@attribute 'label one' { 0 , 1 }\n"
            "@ATTRIBUTE lab2 {'0','1'}\n"
            "@data\n"
            "1.5, -2, 1, '0'\n"
            "% comment inside data\n"
            "{1 3, 3 '1'}\n"
            "{}\n")
        (tmp_path / "hand.xml").write_text(
            '<?xml version="1.0"?>\n<labels xmlns="http://mulan.sourceforge.net/labels">'
            '<label name="label one"><label name="lab2"/></label></labels>')
        ds = load_vectors(path)
        np.testing.assert_array_equal(ds.features, [[1.5, -2], [0, 3], [0, 0]])
        np.testing.assert_array_equal(ds.labels, [[1, 0], [0, 1], [0, 0]])
        assert ds.label_names == ["label one", "lab2"]
        assert ds.feature_names == ["first feature", "f2"]

    def test_npz(self, tmp_path, data):
        x, y = data
        assert_round_trip(load_vectors(save_npz(tmp_path / "d.npz", x, y,
                                                label_names=LABEL_NAMES)), x, y)

    def test_npz_without_names(self, tmp_path, data):
        x, y = data
        ds = load_vectors(save_npz(tmp_path / "d.npz", x, y))
        assert_round_trip(ds, x, y, [f"label_{j}" for j in range(L)])

    @pytest.mark.parametrize("suffix", [".h5", ".hdf5"])
    def test_h5(self, tmp_path, data, suffix):
        x, y = data
        assert_round_trip(load_vectors(save_h5(tmp_path / f"d{suffix}", x, y,
                                               label_names=LABEL_NAMES)), x, y)

    @pytest.mark.parametrize("keys", [("X", "Y"), ("features", "labels")])
    def test_mat_v5(self, tmp_path, data, keys):
        x, y = data
        path = tmp_path / "d.mat"
        scipy.io.savemat(path, {keys[0]: x.astype(np.float64), keys[1]: y.astype(np.uint8),
                                "label_names": np.array(LABEL_NAMES, dtype=object)})
        assert_round_trip(load_vectors(path), x, y)

    def test_mat_v5_sparse_labels_and_char_names(self, tmp_path, data):
        import scipy.sparse
        x, y = data
        path = tmp_path / "d.mat"
        scipy.io.savemat(path, {"X": x, "Y": scipy.sparse.csc_matrix(y),
                                "label_names": np.array(LABEL_NAMES)})
        assert_round_trip(load_vectors(path), x, y)

    def test_mat_v73(self, tmp_path, data):
        x, y = data
        path = tmp_path / "d73.mat"
        write_mat73(path, {"X": x, "Y": y})
        with pytest.raises(NotImplementedError):
            scipy.io.loadmat(path)  # what makes the h5py branch necessary
        assert_round_trip(load_vectors(path), x, y, [f"label_{j}" for j in range(L)])


class TestErrors:

    def test_unknown_suffix(self, tmp_path):
        path = tmp_path / "d.csv"
        path.write_text("1,2\n")
        with pytest.raises(DataError) as e:
            load_vectors(path)
        assert ".npz" in error_message(e, path)

    def test_missing_file(self, tmp_path):
        path = tmp_path / "none.npz"
        with pytest.raises(DataError) as e:
            load_vectors(path)
        error_message(e, path)

    def test_row_count_mismatch(self, tmp_path, data):
        x, y = data
        path = save_npz(tmp_path / "d.npz", x, y[:-1])
        with pytest.raises(DataError) as e:
            load_vectors(path)
        assert "60 rows" in error_message(e, path)

    def test_transposed_labels_hint(self, tmp_path, data):
        x, y = data
        path = tmp_path / "d.mat"
        scipy.io.savemat(path, {"X": x, "Y": y.T})
        with pytest.raises(DataError) as e:
            load_vectors(path)
        assert "transposed" in error_message(e, path)

    def test_labels_not_binary(self, tmp_path, data):
        x, y = data
        path = save_h5(tmp_path / "d.h5", x, 2 * y - 1)  # the -1/+1 convention
        with pytest.raises(DataError) as e:
            load_vectors(path)
        assert "0 or 1" in error_message(e, path)

    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
    def test_non_finite_features(self, tmp_path, data, bad):
        x, y = data
        x = x.copy()
        x[[4, 9], 2] = bad
        x[9, 7] = bad
        path = save_npz(tmp_path / "d.npz", x, y)
        with pytest.raises(DataError) as e:
            load_vectors(path)
        message = error_message(e, path)
        assert "3 NaN/inf values in 2 rows and 2 columns" in message
        assert "row 4, column 2" in message

    def test_nan_in_arff(self, tmp_path, data):
        x, y = data
        path = tmp_path / "d.arff"
        path.write_text("@relation 'd: -C 1'\n@attribute l {0,1}\n@attribute f numeric\n"
                        "@data\n1,NaN\n")
        with pytest.raises(DataError) as e:
            load_vectors(path)
        assert "NaN/inf" in error_message(e, path)

    def test_empty_set(self, tmp_path):
        path = save_npz(tmp_path / "d.npz", np.zeros((0, D)), np.zeros((0, L)))
        with pytest.raises(DataError) as e:
            load_vectors(path)
        assert "no examples" in error_message(e, path)

    def test_empty_arff(self, tmp_path, data):
        x, y = data
        path = write_arff(tmp_path / "d.arff", x[:0], y[:0], relation="d", meka=True)
        with pytest.raises(DataError) as e:
            load_vectors(path)
        assert "no examples" in error_message(e, path)

    def test_npz_needing_pickle(self, tmp_path, data):
        x, y = data
        path = tmp_path / "d.npz"
        np.savez(path, X=x, Y=np.array(list(y), dtype=object))
        with pytest.raises(DataError) as e:
            load_vectors(path)
        message = error_message(e, path)
        assert "pickle" in message and "np.savez" in message

    def test_npz_missing_arrays(self, tmp_path, data):
        x, y = data
        path = tmp_path / "d.npz"
        np.savez(path, features=x, targets=y)
        with pytest.raises(DataError) as e:
            load_vectors(path)
        assert "X/Y" in error_message(e, path)

    def test_num_labels_mismatch(self, tmp_path, data):
        x, y = data
        path = save_npz(tmp_path / "d.npz", x, y)
        with pytest.raises(DataError) as e:
            load_vectors(path, num_labels=L + 1)
        assert "expected 6 labels" in error_message(e, path)

    def test_missing_xml(self, tmp_path, data):
        x, y = data
        path = write_arff(tmp_path / "d.arff", x, y, relation="d", label_names=LABEL_NAMES)
        with pytest.raises(DataError) as e:
            load_vectors(path)
        assert "d.xml" in error_message(e, path)

    def test_explicit_xml_missing(self, tmp_path, data):
        x, y = data
        path = write_arff(tmp_path / "d.arff", x, y, relation="d", label_names=LABEL_NAMES)
        xml = tmp_path / "other.xml"
        with pytest.raises(DataError) as e:
            load_vectors(path, labels_xml=xml)
        error_message(e, xml)

    def test_xml_label_missing_from_arff(self, tmp_path, data):
        x, y = data
        path = write_arff(tmp_path / "d.arff", x, y, relation="d", label_names=LABEL_NAMES)
        write_mulan_xml(tmp_path / "d.xml", LABEL_NAMES + ["snow"])
        with pytest.raises(DataError) as e:
            load_vectors(path)
        assert "'snow'" in error_message(e, path)

    def test_meka_header_disagrees_with_xml(self, tmp_path, data):
        x, y = data
        path = write_arff(tmp_path / "d.arff", x, y, relation="d", label_names=LABEL_NAMES,
                          meka=True)
        write_mulan_xml(tmp_path / "d.xml", LABEL_NAMES[:-1])  # 4 labels, header says 5
        with pytest.raises(DataError) as e:
            load_vectors(path)
        assert "-C 5" in error_message(e, path)

    @pytest.mark.parametrize("attributes, data, expected", [
        ("@attribute f numeric", "1,0.5\n0,?", ":6:"),  # a missing value, on line 6
        ("@attribute f {a,b}", "1,a", "numeric"),  # a nominal feature
        ("@attribute f numeric", "1,0.5,3", "3 values"),  # a wrong value count
        ("@attribute f numeric", "{0 1, 2 0.5}", ""),  # a sparse index out of range
    ], ids=["missing_value", "nominal_feature", "wrong_value_count", "sparse_index_out_of_range"])
    def test_malformed_arff_row(self, tmp_path, attributes, data, expected):
        path = tmp_path / "d.arff"
        path.write_text(f"@relation 'd: -C 1'\n@attribute l {{0,1}}\n{attributes}\n"
                        f"@data\n{data}\n")
        with pytest.raises(DataError) as e:
            load_vectors(path)
        assert expected in error_message(e, path)

    def test_not_an_arff(self, tmp_path):
        path = tmp_path / "d.arff"
        path.write_text("x,y\n1,2\n")
        with pytest.raises(DataError) as e:
            load_vectors(path)
        error_message(e, path)

    def test_corrupt_h5_and_mat(self, tmp_path):
        for name in ("d.h5", "d.mat", "d.npz"):
            path = tmp_path / name
            path.write_bytes(b"not a data file at all")
            with pytest.raises(DataError) as e:
                load_vectors(path)
            error_message(e, path)


class TestSplits:

    def test_random_split_is_a_seeded_partition(self):
        train, test = random_split(100, 30, seed=7)
        assert len(train) == 30 and len(test) == 70
        np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(100))
        again, _ = random_split(100, 30, seed=7)
        other, _ = random_split(100, 30, seed=8)
        np.testing.assert_array_equal(train, again)
        assert not np.array_equal(train, other)
        assert len(random_split(100, 0.25, seed=0)[0]) == 25

    def test_random_split_rejects_degenerate_sizes(self):
        for size in (0, 100, 1.0):
            with pytest.raises(ValueError):
                random_split(100, size, seed=0)

    def test_train_validation_split(self):
        train, _ = random_split(100, 40, seed=1)
        fit, val = train_validation_split(train, 0.2, seed=3)
        assert len(fit) == 32 and len(val) == 8
        assert set(fit) | set(val) == set(train) and not set(fit) & set(val)
        fit0, val0 = train_validation_split(train, 0.0, seed=3)
        np.testing.assert_array_equal(fit0, train)
        assert len(val0) == 0

    def test_subset(self, tmp_path, data):
        x, y = data
        ds = load_vectors(save_npz(tmp_path / "d.npz", x, y))
        train, _ = random_split(N, 10, seed=0)
        part = ds.subset(train)
        np.testing.assert_array_equal(part.features, x[train])
        assert part.label_names == ds.label_names


def test_the_documented_conventions_are_the_ones_read(tmp_path):
    """The conventions the module docstring names, each on a hand-written file (not the
    writers, which could share a reader's mistake): Mulan's XML names the label attributes
    (wherever they are); MEKA's `-C L` takes the first L attributes, `-C -L` the last L; an
    .npz object array is refused, never unpickled; a v7.3 .mat is read transposed back."""
    rows = "@data\n0,1.5,1\n1,-2,0\n"
    header = "@attribute a {0,1}\n@attribute f numeric\n@attribute b {0,1}\n"
    mulan = tmp_path / "mulan.arff"
    mulan.write_text("@relation m\n" + header + rows)
    mulan.with_suffix(".xml").write_text(
        '<labels xmlns="http://mulan.sourceforge.net/labels"><label name="b"/>'
        '<label name="a"/></labels>')
    ds = load_vectors(mulan)
    assert ds.label_names == ["b", "a"] and ds.features.tolist() == [[1.5], [-2.0]]
    assert ds.labels.tolist() == [[1.0, 0.0], [0.0, 1.0]]  # in the XML's order
    first = tmp_path / "first.arff"
    first.write_text("@relation 'm: -C 1'\n@attribute a {0,1}\n@attribute f numeric\n"
                     "@attribute g numeric\n@data\n1,0.5,2\n0,3,4\n")
    ds = load_vectors(first)
    assert ds.label_names == ["a"] and ds.features.tolist() == [[0.5, 2.0], [3.0, 4.0]]
    last = tmp_path / "last.arff"
    last.write_text("@relation 'm: -C -1'\n@attribute f numeric\n@attribute g numeric\n"
                    "@attribute a {0,1}\n@data\n0.5,2,1\n3,4,0\n")
    ds = load_vectors(last)
    assert ds.label_names == ["a"] and ds.labels.tolist() == [[1.0], [0.0]]
    pickled = tmp_path / "p.npz"
    np.savez(pickled, X=np.ones((2, 2)), Y=np.array([[1, 0], [0, 1]], dtype=object))
    with pytest.raises(DataError, match="pickle"):
        load_vectors(pickled)
    mat = tmp_path / "d73.mat"
    write_mat73(mat, {"X": np.arange(6.0).reshape(3, 2), "Y": np.eye(3)[:, :2]})
    ds = load_vectors(mat)
    assert ds.features.tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    assert vectors.load_vectors is load_vectors
