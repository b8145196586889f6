"""The README and docs/ cannot go stale: their Python examples run, their links resolve, and the
module map lists exactly the modules under admlc_tf/.

- Every ```python block of README.md and docs/**/*.md is executed: the blocks of one file in
  order, in one fresh namespace per file, in a temporary working directory (and, through
  conftest, a temporary $ADMLC_DATA_HOME), so an example that no longer matches the library
  fails here.
- A block that cannot run here (it needs a server or a user's file) is fenced ```python-skip and
  its first line says why (`# not run: ...`). Such blocks are few and named in `SKIPPED`: adding
  one means editing this file.
- Every relative link points at an existing file (and an `#anchor` at a heading of it).
- `docs/reference/modules.md` has exactly one row per module under `admlc_tf/` (empty
  `__init__.py` files aside), so a module added, moved or removed without its line fails here.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers import REPO

MODULE_MAP = REPO / "docs" / "reference" / "modules.md"

# The python-skip blocks, per file: each needs a running TF Serving and a user's file.
SKIPPED = {
    "docs/tutorials/images.md": 1,
    "docs/tutorials/serving.md": 1,
}
# Linked before they are written (another change adds them); a missing one is not an error.
PENDING: set[str] = set()  # linked pages still to be written
FENCES = {"", "bash", "text", "json", "python", "python-skip"}


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def _name(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def fenced_blocks(path: Path) -> list[tuple[str, int, str]]:
    """(info string, line of the opening fence, code) of every fenced block, in order."""
    blocks, info, start, lines = [], None, 0, []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            if info is None:
                info, start, lines = line[3:].strip(), number, []
            else:
                assert line.strip() == "```", f"{_name(path)}:{number}: a fence inside a block"
                blocks.append((info, start, "\n".join(lines) + "\n"))
                info = None
        elif info is not None:
            lines.append(line)
    assert info is None, f"{_name(path)}:{start}: the block opened here is never closed"
    return blocks


def prose(path: Path) -> str:
    """The file without its fenced blocks (links inside code are not links)."""
    text, inside = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = not inside
        elif not inside:
            text.append(line)
    return "\n".join(text)


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    found = set()
    for line in prose(path).splitlines():
        match = re.match(r"#+\s+(.*)", line)
        if match:
            slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
            found.add(slug)
    return found


FILES_WITH_PYTHON = [p for p in doc_files() if any(i == "python" for i, _, _ in fenced_blocks(p))]


@pytest.mark.slow
@pytest.mark.parametrize("path", FILES_WITH_PYTHON, ids=_name)
def test_python_examples_run(path, tmp_path, monkeypatch):
    """The file's ```python blocks run, in order, in one namespace, in a temporary folder.
    Fails on any exception an example raises (the block and its line are named)."""
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    for info, line, code in fenced_blocks(path):
        if info == "python":
            exec(compile(code, f"{_name(path)} (block at line {line})", "exec"), namespace)


def test_some_examples_are_run():
    """The runnable examples are where the docs say they are (a tutorial losing its examples,
    e.g. by a wrong fence, fails here)."""
    names = {_name(p) for p in FILES_WITH_PYTHON}
    assert {"docs/tutorials/own-predictor.md", "docs/tutorials/feature-vectors.md",
            "docs/tutorials/own-audio.md", "docs/tutorials/images.md",
            "docs/tutorials/serving.md"} <= names


def test_skipped_blocks_are_few_and_named():
    """Only the blocks in SKIPPED are not run, each saying why on its first line; every fence
    is one of FENCES (a ```py or ```python3 block would otherwise escape the run)."""
    skipped = Counter()
    for path in doc_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert not re.match(r"\s+```", line), \
                f"{_name(path)}:{number}: an indented fence (this test reads fences at column 0)"
        for info, line, code in fenced_blocks(path):
            assert info in FENCES, f"{_name(path)}:{line}: fence ```{info}: use one of {FENCES}"
            if info == "python-skip":
                assert code.startswith("# not run: "), \
                    f"{_name(path)}:{line}: a python-skip block starts with '# not run: <why>'"
                skipped[_name(path)] += 1
    assert dict(skipped) == SKIPPED
    assert sum(SKIPPED.values()) <= 3


def test_relative_links_resolve():
    """Every relative link of README.md and docs/ names an existing file, and its #anchor a
    heading of that file; links in CHANGELOG.md too."""
    broken = []
    for path in [*doc_files(), REPO / "CHANGELOG.md"]:
        for target in re.findall(r"\]\(([^)\s]+)\)", prose(path)):
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path
            if not resolved.exists():
                if _name(resolved) not in PENDING:
                    broken.append(f"{_name(path)}: {target} (no such file)")
                continue
            if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                broken.append(f"{_name(path)}: {target} (no heading '{anchor}')")
    assert not broken, "broken links:\n" + "\n".join(broken)


def listed_modules() -> list[tuple[str, str]]:
    rows = re.findall(r"^\| `(admlc_tf/[^`]+\.py)` \| (.*) \|$", MODULE_MAP.read_text(), re.M)
    return rows


def test_module_map_lists_every_module_once():
    """docs/reference/modules.md has one row per module of the tree, each with a sentence.
    The failure names the rows to add and the rows to remove."""
    tree = {_name(p) for p in (REPO / "admlc_tf").rglob("*.py")
            if "__pycache__" not in p.parts
            and not (p.name == "__init__.py" and not p.read_text().strip())}
    rows = listed_modules()
    names = [name for name, _ in rows]
    twice = sorted(n for n, count in Counter(names).items() if count > 1)
    missing, stale = sorted(tree - set(names)), sorted(set(names) - tree)
    assert not (missing or stale or twice), (
        "docs/reference/modules.md is out of date:\n"
        + "".join(f"  add a row for {n}\n" for n in missing)
        + "".join(f"  remove the row of {n} (no such module)\n" for n in stale)
        + "".join(f"  {n} is listed twice\n" for n in twice))
    for name, sentence in rows:
        assert sentence.strip().endswith("."), f"{name}: one sentence, ending in a full stop"


def test_readme_front_page():
    """README.md is at most 250 lines and opens with the two commands; the second is the
    test command `.ci/run` runs."""
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 250
    info, line, code = fenced_blocks(REPO / "README.md")[0]
    assert (info, line) == ("bash", 5)
    train, test = code.splitlines()
    assert train.endswith(".venv/bin/python train.py")
    assert test.endswith(".venv/bin/python -m pytest")
    assert (REPO / ".ci" / "run").read_text().splitlines()[-1] == test
