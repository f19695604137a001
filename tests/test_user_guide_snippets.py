"""Run the Python code shown in the documentation's pages.

Convention (write new pages to it):

* Every ``.. code-block:: python`` block (also ``.. code::`` and
  ``.. sourcecode::`` with ``python``), every literal block introduced by a
  paragraph ending in ``::`` (Sphinx shows those as Python), and every
  ``>>>`` doctest block of a page in ``docs/`` or ``docs/user_guide/`` is
  run. Blocks in another language (``bash``, ``text``, ...) are not.
* All blocks of one page run in order in one namespace, so a page may
  define ``X`` in its first block and use it in later ones; each page starts
  from an empty namespace, so every page defines its own data (from
  scikit-learn's bundled data sets, which need no network). Pages run in a
  temporary working directory, so files they write are thrown away.
* Warnings are errors. A block that is *meant* to show a warning says so in
  an rST comment right before it, ``.. skae-warns: ConvergenceWarning`` (the
  name of a warning class from ``warnings``, ``sklearn.exceptions`` or
  builtins), and then it must emit that warning; other warnings are still
  errors.
* A block that needs a CUDA GPU is preceded by the comment
  ``.. skae-needs: cuda``. Without a GPU it must fail with the
  :class:`ValueError` the documentation promises for a missing accelerator;
  with one it runs like any other block.
* ``>>>`` blocks are run by :mod:`doctest` in the page's namespace and their
  printed output is compared (with ``ELLIPSIS`` and
  ``NORMALIZE_WHITESPACE``).

The checks assert that the code runs as written; pages quote no numbers
from these runs, so small training budgets are fine where the text does
not claim a result.
"""

import builtins
import doctest
import re
import textwrap
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sklearn.exceptions
import torch

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(DOCS.glob("*.rst")) + sorted((DOCS / "user_guide").glob("*.rst"))

_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. (?:code-block|code|sourcecode)::\s*(?P<lang>\S*)\s*$")
_MARKER = re.compile(r"^\s*\.\. skae-(?P<kind>warns|needs):\s*(?P<value>\S+)\s*$")
_LITERAL_INTRO = re.compile(r"^(?P<indent>\s*)(?!\.\. )\S.*::\s*$")
_PYTHON = {"python", "python3", "py", "pycon", "ipython", "ipython3"}


@dataclass
class Block:
    page: str
    line: int  # 1-based line of the first line of code
    code: str
    doctest: bool = False
    warns: list = field(default_factory=list)
    needs: list = field(default_factory=list)


def _indented_block(lines, start, min_indent):
    """The lines from ``start`` indented deeper than ``min_indent``.

    Leading blank lines and option lines (``:caption: ...``) are skipped.
    Returns the first line number of the block (0-based) and its text.
    """
    i = start
    # Directive options, then the blank line before the content.
    while i < len(lines) and re.match(r"^\s+:[\w-]+:", lines[i]):
        i += 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    first = i
    body = []
    while i < len(lines):
        line = lines[i]
        if line.strip() and len(line) - len(line.lstrip()) <= min_indent:
            break
        body.append(line)
        i += 1
    return first, textwrap.dedent("\n".join(body)).strip("\n") + "\n", i


def extract_blocks(path):
    """The runnable Python blocks of an rST page, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    markers = {"warns": [], "needs": []}
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = _MARKER.match(line)
        directive = _DIRECTIVE.match(line)
        intro = _LITERAL_INTRO.match(line) if not directive else None
        if marker:
            markers[marker["kind"]].append(marker["value"])
            i += 1
            continue
        if directive or (intro and not line.strip().startswith("..")):
            indent = len((directive or intro)["indent"])
            first, code, end = _indented_block(lines, i + 1, indent)
            lang = directive["lang"].lower() if directive else "python"
            if lang in _PYTHON and code.strip():
                blocks.append(
                    Block(path.name, first + 1, code, False, *markers.values())
                )
            markers = {"warns": [], "needs": []}
            i = end
            continue
        if line.lstrip().startswith(">>>"):
            start = i
            while i < len(lines) and lines[i].strip():
                i += 1
            code = textwrap.dedent("\n".join(lines[start:i])) + "\n"
            blocks.append(Block(path.name, start + 1, code, True, *markers.values()))
            markers = {"warns": [], "needs": []}
            continue
        if line.strip() and not line.lstrip().startswith(".."):
            # Text between a marker and its block detaches the marker.
            markers = {"warns": [], "needs": []}
        i += 1
    return blocks


def _warning_class(name):
    for namespace in (builtins, sklearn.exceptions, warnings):
        cls = getattr(namespace, name, None)
        if isinstance(cls, type) and issubclass(cls, Warning):
            return cls
    raise ValueError(f"unknown warning class in a skae-warns marker: {name}")


def _run(block, namespace):
    where = f"{block.page}:{block.line}"
    if block.doctest:
        test = doctest.DocTestParser().get_doctest(
            block.code, namespace, where, block.page, block.line - 1
        )
        runner = doctest.DocTestRunner(
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        )
        runner.run(test, clear_globs=False)
        failed = runner.summarize(verbose=False).failed
        assert not failed, f"doctest failed at {where}"
        return
    exec(compile(block.code, where, "exec"), namespace)


def run_block(block, namespace):
    """Run one block with warnings as errors, honouring its markers."""
    expected = [_warning_class(name) for name in block.warns]
    for need in block.needs:
        if need != "cuda":
            raise ValueError(f"unknown skae-needs marker: {need}")
    missing_gpu = "cuda" in block.needs and not torch.cuda.is_available()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("error")
        for cls in expected:
            # Let the announced warning through, to be checked below.
            warnings.simplefilter("always", cls)
        if missing_gpu:
            with pytest.raises(ValueError, match=r"(?i)cuda"):
                _run(block, namespace)
            return
        _run(block, namespace)
    for cls in expected:
        assert any(issubclass(w.category, cls) for w in caught), (
            f"{block.page}:{block.line} is marked as showing a {cls.__name__}, "
            "but it did not emit one"
        )


def test_convention_finds_the_blocks(tmp_path):
    """The extraction itself, on a page written for the purpose."""
    page = textwrap.dedent(
        """
        Title
        =====

        .. code-block:: python
           :caption: first

           a = 1

        Text::

            b = a + 1

        .. code-block:: bash

           echo not python

        .. skae-warns: ConvergenceWarning

        .. code-block:: python

           c = b + 1

        >>> c
        3
        """
    )
    path = tmp_path / "snippet_convention.rst"
    path.write_text(page, encoding="utf-8")
    blocks = extract_blocks(path)
    assert [b.code for b in blocks] == ["a = 1\n", "b = a + 1\n", "c = b + 1\n", ">>> c\n3\n"]
    assert [b.warns for b in blocks] == [[], [], ["ConvergenceWarning"], []]
    assert [b.doctest for b in blocks] == [False, False, False, True]
    namespace = {}
    for block in blocks[:3]:
        _run(block, namespace)
    _run(blocks[3], namespace)  # passes: c == 3
    with pytest.raises(AssertionError, match="doctest failed"):
        _run(Block("x.rst", 1, ">>> c\n4\n", doctest=True), namespace)


def test_a_stray_warning_fails_a_block():
    block = Block("x.rst", 1, "import warnings\nwarnings.warn('boom', UserWarning)\n")
    with pytest.raises(UserWarning):
        run_block(block, {})
    marked = Block(block.page, 1, block.code, warns=["UserWarning"])
    run_block(marked, {})
    silent = Block("x.rst", 1, "pass\n", warns=["UserWarning"])
    with pytest.raises(AssertionError, match="did not emit"):
        run_block(silent, {})


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_snippets_run(page, tmp_path, monkeypatch):
    blocks = extract_blocks(page)
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"docs_{page.stem}"}
    for block in blocks:
        run_block(block, namespace)
