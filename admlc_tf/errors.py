"""The one exception type the CLI turns into a one-line message and exit code 2."""


def printable(text: str) -> str:
    """`text` with what a terminal line cannot show escaped as Python's repr does: control
    characters (`\\n` in a file name would split the one-line message) and the bytes of a name
    that is not UTF-8 (surrogate-escaped by os.fsdecode, shown as `\\xe9`)."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if 0xDC80 <= ord(ch) <= 0xDCFF:  # os.fsdecode's stand-in for an undecodable byte
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1])
    return "".join(out)


class AdmlcError(Exception):
    """Bad input or state the user can fix.

    The message is one line: what is wrong, the file it concerns, and what to do.
    `train.py` and `evaluate.py` print it as `error: <message>` and exit with code 2. File
    names in it are escaped (`printable`), so it stays one line whatever they hold.
    """

    def __str__(self) -> str:
        return printable(super().__str__())


class DataError(AdmlcError):
    """A data set file is missing, corrupt or inconsistent."""


def first_line(error: BaseException) -> str:
    """The first line of `error`'s message (TensorFlow's and h5py's run to several), or its
    type's name when it has none, for a one-line message that quotes it."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
