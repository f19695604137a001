"""Sphinx configuration for the skae documentation.

Build with::

    pip install -e ".[docs]"
    python -m sphinx -W -b html docs docs/_build/html

The build needs no network access: there is no intersphinx, no remote image,
and the gallery runs on the CPU in a few minutes. To check the pages without
running the examples (seconds instead of minutes), add ``-D plot_gallery=0``;
tests/test_docs_build.py builds that way.
"""

import os
import re
import sys
import tempfile
import warnings
from pathlib import Path

# Figures are drawn off screen, before anything imports pyplot.
os.environ.setdefault("MPLBACKEND", "Agg")

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# Build from a checkout even when skae is not installed into the environment,
# and find the helpers in docs/sphinxext.
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "sphinxext"))

import skae  # noqa: E402
from docutils import nodes  # noqa: E402
from docutils.parsers.rst import directives  # noqa: E402
from docutils.statemachine import StringList  # noqa: E402
from sklearn.base import (  # noqa: E402
    ClassifierMixin,
    OutlierMixin,
    RegressorMixin,
    TransformerMixin,
)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sphinx.util.docutils import SphinxDirective  # noqa: E402
from sphinx.util.nodes import nested_parse_with_titles  # noqa: E402

# -- Project -----------------------------------------------------------------

project = "skae"
author = "The skae developers"
copyright = "the skae developers"
version = release = skae.__version__

# -- General -----------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    # Only to render the benchmark results (Markdown) on the Benchmarks page.
    "myst_parser",
]
# Pages are reStructuredText; Markdown is read only where it is included.
source_suffix = {".rst": "restructuredtext"}

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"
default_role = "literal"
pygments_style = "sphinx"

# -- API reference -----------------------------------------------------------

# Stub pages are written by ``_generate_api_pages`` below, from skae.__all__,
# so an estimator added to __all__ gets its page without touching the docs.
autosummary_generate = False
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"
autodoc_member_order = "groupwise"
# Short names, as on scikit-learn's pages: "fit" rather than
# "skae.AutoencoderTransformer.fit" in signatures and in "On this page".
add_module_names = False
toc_object_entries_show_parents = "hide"

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True


# Methods inherited from scikit-learn (set_output, get_metadata_routing, ...)
# are documented on each class page, but their docstrings point with :ref:
# and :term: at labels of scikit-learn's own documentation, which do not
# exist here. Without intersphinx (no network), those become plain text.
_FOREIGN_ROLE = re.compile(r":(?:ref|term|doc):`([^`<]*?)\s*(?:<[^`>]*>)?`")


def _foreign_role_text(match):
    title = match.group(1).strip()
    if not title or title.startswith("sphx_glr_"):
        return "scikit-learn's documentation"
    return f"{title} (in scikit-learn's documentation)"


def _strip_foreign_roles(app, what, name, obj, options, lines):
    module = getattr(obj, "__module__", None) or getattr(
        getattr(obj, "fget", None), "__module__", ""
    )
    if module and not module.startswith("skae"):
        lines[:] = [_FOREIGN_ROLE.sub(_foreign_role_text, line) for line in lines]


def public_names():
    """Names documented in the API reference: skae.__all__ minus dunders."""
    return [name for name in skae.__all__ if not name.startswith("__")]


def _kind(name):
    """The section of the API page that lists ``skae.<name>``."""
    obj = getattr(skae, name)
    if not isinstance(obj, type):
        return "function" if callable(obj) else "other"
    if issubclass(obj, OutlierMixin):
        return "outlier"
    if issubclass(obj, (ClassifierMixin, RegressorMixin)):
        return "supervised"
    if issubclass(obj, TransformerMixin):
        return "transformer"
    return "other"


def _generate_api_pages(app):
    """Write docs/generated/skae.<name>.rst for every public name.

    autosummary's own scan only finds names written literally in ``.rst``
    files, so the list is handed to its generator through a temporary file.
    """
    from sphinx.ext.autosummary.generate import generate_autosummary_docs

    out = DOCS / "generated"
    names = public_names()
    # Pages of names that left __all__ would be orphans (a warning).
    for stale in out.glob("skae.*.rst"):
        if stale.stem.removeprefix("skae.") not in names:
            stale.unlink()
    lines = [".. currentmodule:: skae", "", ".. autosummary::"]
    lines += [f"   :toctree: {out}", ""]
    lines += [f"   {name}" for name in names]
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "api_names.rst"
        listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
        generate_autosummary_docs([str(listing)], app=app, suffix=".rst")
    app.env.find_files(app.config, app.builder)


class PublicAPI(SphinxDirective):
    """An autosummary table of the public names of one kind, under a heading.

    Options: ``:kind:`` (``transformer``, ``outlier``, ``supervised``,
    ``function`` or ``other``) and
    ``:title:``. The content is an introduction placed under the heading. A
    kind with no public names yields nothing, not even the heading, so the
    page grows with skae.__all__.
    """

    has_content = True
    option_spec = {
        "kind": directives.unchanged_required,
        "title": directives.unchanged_required,
    }

    def run(self):
        kind = self.options["kind"]
        names = [n for n in public_names() if _kind(n) == kind]
        if not names:
            return []
        title = self.options["title"]
        lines = [title, "-" * len(title), "", *self.content, ""]
        lines += [".. autosummary::", "   :toctree: generated/", "   :nosignatures:", ""]
        lines += [f"   {name}" for name in names]
        container = nodes.Element()
        nested_parse_with_titles(
            self.state, StringList(lines, source="skae.__all__"), container
        )
        return container.children


def benchmark_result_files():
    """Markdown files shown on the Benchmarks page, in page order.

    ``benchmarks/RESULTS.md`` (written by ``benchmarks/run.py``) first, then
    every ``benchmarks/results/*.md`` by file name, so a new results file
    appears on the page without touching the docs.
    """
    bench = ROOT / "benchmarks"
    files = [bench / "RESULTS.md"] if (bench / "RESULTS.md").is_file() else []
    return files + sorted((bench / "results").glob("*.md"))


class BenchmarkResults(SphinxDirective):
    """Render the benchmark results (Markdown) as part of the page.

    Each file of :func:`benchmark_result_files` is parsed by MyST, so its
    tables become HTML tables and its headings sections of the page (its
    ``#`` title one level below the page's). A checkout without results
    still builds, with a sentence saying how to produce them.
    """

    def run(self):
        files = benchmark_result_files()
        if not files:
            text = (
                "No benchmark results are in this checkout yet; run "
                "``python benchmarks/run.py`` to produce them."
            )
            paragraph = nodes.paragraph()
            self.state.nested_parse(StringList([text]), self.content_offset, paragraph)
            return paragraph.children
        # The include directive reads paths relative to the including page.
        here = Path(self.env.doc2path(self.env.docname)).parent
        lines = []
        for path in files:
            self.env.note_dependency(str(path))
            rel = Path(os.path.relpath(path, here)).as_posix()
            lines += [f".. include:: {rel}", "   :parser: myst_parser.sphinx_", ""]
        container = nodes.Element()
        nested_parse_with_titles(
            self.state, StringList(lines, source="benchmarks"), container
        )
        return container.children


# -- Gallery -----------------------------------------------------------------

# The gallery caps max_iter so that it builds in minutes; the warning that
# training stopped before converging is expected there and is not shown on
# the pages (the gallery's introduction says so). Other warnings are shown.
warnings.filterwarnings("ignore", category=ConvergenceWarning, module=r"skae\.")

# An example that needs a public name skae does not (yet) export is left out,
# so the gallery grows with the library. Maps file name -> required names.
EXAMPLE_REQUIRES = {
    "plot_anomaly_detection.py": ["AutoencoderOutlierDetector"],
    "plot_vae_samples.py": ["VariationalAutoencoderTransformer"],
}
_missing = [
    file
    for file, needs in EXAMPLE_REQUIRES.items()
    if not set(needs) <= set(skae.__all__)
]

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    # Matched against the file name (newer sphinx-gallery) or its full path.
    "ignore_pattern": "|".join(
        [r"__init__\.py", *(rf"(^|[/\\]){re.escape(f)}$" for f in _missing)]
    ),
    "within_subsection_order": "gallery_order.GalleryOrder",
    "doc_module": ("skae",),
    "backreferences_dir": "generated/backreferences",
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "download_all_examples": False,
    "show_signature": False,
    "min_reported_time": 1,
    "image_scrapers": ("matplotlib",),
}


def _example_role(name, rawtext, text, lineno, inliner, options=None, content=()):
    """``:skae-example:`plot_x.py``` links to a gallery example if it is built.

    Examples left out by ``EXAMPLE_REQUIRES`` are named as plain text
    instead, so pages that mention them build without dangling links.
    """
    filename = text.strip()
    if filename in _missing:
        node = nodes.literal(rawtext, f"examples/{filename}")
        return [node], []
    env = inliner.document.settings.env
    ref = env.get_domain("std").role("ref")
    label = "sphx_glr_auto_examples_" + filename.replace("/", "_")
    return ref("ref", rawtext, label, lineno, inliner, options or {}, content)


# -- HTML --------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skae {release}"
html_static_path = ["_static"]
html_css_files = ["skae.css"]
html_show_sourcelink = False
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {
    "index": [],
    "getting_started": [],
    "benchmarks": [],
    "changelog": [],
}
html_context = {"default_mode": "light"}


def setup(app):
    app.connect("builder-inited", _generate_api_pages)
    app.connect("autodoc-process-docstring", _strip_foreign_roles)
    app.add_directive("skae-api", PublicAPI)
    app.add_directive("skae-benchmark-results", BenchmarkResults)
    app.add_role("skae-example", _example_role)
