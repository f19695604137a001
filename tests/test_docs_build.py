"""Build the HTML documentation once and check what readers see.

The build is the one of the docs, with warnings as errors (``-W``), except
that the gallery's examples are not executed (``-D plot_gallery=0``), which
keeps it to seconds; the gallery's own build runs them.
"""

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

import skae

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

@pytest.fixture(scope="module")
def html(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs_html")
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    result = subprocess.run(
        [
            sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html",
            "-D", "plot_gallery=0",
            "-d", str(out / ".doctrees"),
            str(DOCS), str(out),
        ],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def public_names():
    return [name for name in skae.__all__ if not name.startswith("__")]


class _TocText(HTMLParser):
    """Texts of the links in the "On this page" navigation."""

    def __init__(self):
        super().__init__()
        self.depth = 0  # inside <nav id="pst-page-toc-nav"> when > 0
        self.in_link = False
        self.entries = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "nav" and attrs.get("id") == "pst-page-toc-nav":
            self.depth = 1
        elif self.depth and tag == "nav":
            self.depth += 1
        elif self.depth and tag == "a":
            self.in_link = True
            self.entries.append("")

    def handle_endtag(self, tag):
        if self.depth and tag == "nav":
            self.depth -= 1
        elif tag == "a":
            self.in_link = False

    def handle_data(self, data):
        if self.in_link:
            self.entries[-1] += data


def page_toc(path):
    parser = _TocText()
    parser.feed(path.read_text(encoding="utf-8"))
    return [entry.strip() for entry in parser.entries]


def test_every_public_name_has_an_api_page(html):
    api = (html / "api.html").read_text(encoding="utf-8")
    for name in public_names():
        page = html / "generated" / f"skae.{name}.html"
        assert page.is_file(), name
        assert f'href="generated/skae.{name}.html' in api, name


def test_api_sidebar_shows_short_names(html):
    for name in public_names():
        obj = getattr(skae, name)
        if not isinstance(obj, type) or not hasattr(obj, "fit"):
            continue
        entries = page_toc(html / "generated" / f"skae.{name}.html")
        methods = [e for e in entries if e.endswith("()")]
        assert "fit()" in methods, (name, entries)
        for entry in entries:
            # "fit()", not "AutoencoderTransformer.fit()" or "skae.…".
            assert not entry.startswith("skae."), entry
            assert not entry.startswith(f"{name}."), entry
            assert "…" not in entry and "..." not in entry, entry


def test_signatures_omit_the_module(html):
    page = (html / "generated" / "skae.AutoencoderTransformer.html").read_text(
        encoding="utf-8"
    )
    assert '<span class="sig-prename descclassname">' not in page


def _markdown_tables(path):
    """Number of pipe tables in a Markdown file: one delimiter row each."""
    delimiter = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$")
    return sum(bool(delimiter.match(line)) for line in path.read_text().splitlines())


def test_benchmark_markdown_becomes_html_tables(html):
    bench = ROOT / "benchmarks"
    files = [p for p in [bench / "RESULTS.md"] if p.is_file()]
    files += sorted((bench / "results").glob("*.md"))
    page = (html / "benchmarks.html").read_text(encoding="utf-8")
    expected = sum(_markdown_tables(path) for path in files)
    assert page.count("<table") == expected
    assert "|---|" not in page  # no table left as raw Markdown
    assert files and expected > 0  # the repository ships results
    for path in files:
        titles = [
            line[2:].strip()
            for line in path.read_text().splitlines()
            if line.startswith("# ")
        ]
        for title in titles:
            if not re.search(r"[`*_\[\]<>&]", title):
                # The file's title is a section of the page, one level down.
                assert f"<h2>{title}" in page, title
