"""The one exception type the CLI turns into a one-line message and exit code 2."""


class AdmlcError(Exception):
    """Bad input or state the user can fix.

    The message is one line: what is wrong, the file it concerns, and what to do.
    `train.py` and `evaluate.py` print it as `error: <message>` and exit with code 2.
    """


class DataError(AdmlcError):
    """A data set file is missing, corrupt or inconsistent."""
