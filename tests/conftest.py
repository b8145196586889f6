"""Test session set-up: four logical CPU devices, so MirroredStrategy is tested without a GPU.

The split must happen before TensorFlow initialises its devices, hence at import time here.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

NUM_LOGICAL_CPUS = 4
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(NUM_LOGICAL_CPUS)])


@pytest.fixture(autouse=True)
def _isolated_data_home(tmp_path_factory, monkeypatch):
    """Keeps generated data and feature caches out of the user's ~/.cache."""
    monkeypatch.setenv("ADMLC_DATA_HOME", str(tmp_path_factory.getbasetemp() / "data-home"))


# The files whose tests run longest (measured with --durations=0), started first: pytest-xdist
# hands out modules in collection order, and a long one left to the end runs alone on one core.
LONGEST_FIRST = ("test_reproduce.py", "test_notebooks.py", "test_own_audio.py",
                 "test_benchmarks.py", "test_algorithm.py", "test_protocol.py",
                 "test_critic_modes.py", "test_reliability.py")


def _start_rank(item) -> int:
    name = item.path.name
    return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(items):
    """A soak test is slow too: `-m "not slow"` replaces pytest.ini's `-m "not soak"`, and the
    quick loop must not start the long runs. The longest files go first (a stable sort: each
    file's tests stay together and in order)."""
    for item in items:
        if item.get_closest_marker("soak") is not None:
            item.add_marker(pytest.mark.slow)
    items.sort(key=_start_rank)
