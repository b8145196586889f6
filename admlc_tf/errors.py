"""The one exception type the CLI turns into a one-line message and exit code 2."""


class AdmlcError(Exception):
    """Bad input or state the user can fix.

    The message is one line: what is wrong, the file it concerns, and what to do.
    `train.py` and `evaluate.py` print it as `error: <message>` and exit with code 2.
    """


class DataError(AdmlcError):
    """A data set file is missing, corrupt or inconsistent."""


def first_line(error: BaseException) -> str:
    """The first line of `error`'s message (TensorFlow's and h5py's run to several), or its
    type's name when it has none, for a one-line message that quotes it."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
