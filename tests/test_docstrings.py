"""The public docstrings follow numpydoc and describe what the code does.

Every class in ``skae.__all__``, and every public method or property that
skae itself defines on those classes, is checked with numpydoc's validator,
for reStructuredText that would break the documentation build, and for
fitted attributes missing from the Attributes section. Methods inherited
from scikit-learn (``get_params``, ``set_output``, ``get_metadata_routing``,
...) are not skae's to fix and are left out. The Examples sections
themselves run as doctests (``--doctest-modules``).
"""

import inspect
import re
import warnings

import pytest
from numpydoc.docscrape import NumpyDocString
from numpydoc.validate import validate
from sklearn.base import BaseEstimator, is_classifier, is_regressor
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

import skae

# Error codes not enforced on methods and properties. Class docstrings get
# every check.
METHOD_IGNORE = {
    # A one-line summary is enough for most methods; the class docstring
    # carries the explanation.
    "ES01",
    # See Also and Examples live in the class docstring, which shows the
    # methods in use; repeating them on every method would add noise.
    "SA01",
    "EX01",
    # scikit-learn's convention names returned values ("self : object",
    # "X_new : ndarray of shape ..."), which numpydoc's validator flags.
    "RT02",
}


def _public_objects():
    return [
        name
        for name in skae.__all__
        if not name.startswith("__") and inspect.isclass(getattr(skae, name))
    ]


def _defining_class(cls, attr):
    for klass in cls.__mro__:
        if attr in vars(klass):
            return klass
    return None


def _own_members(cls):
    """Public methods and properties that skae (not a dependency) defines."""
    members = []
    for attr in sorted(dir(cls)):
        if attr.startswith("_"):
            continue
        owner = _defining_class(cls, attr)
        if owner is None or not owner.__module__.startswith("skae"):
            continue
        value = vars(owner)[attr]
        if isinstance(value, (property, staticmethod, classmethod)) or callable(value):
            members.append(attr)
    return members


CLASSES = _public_objects()
# The estimators get every check; other public classes (the warning) are
# held to the method standard.
ESTIMATORS = [name for name in CLASSES if issubclass(getattr(skae, name), BaseEstimator)]
MEMBERS = [
    f"{name}.{attr}" for name in CLASSES for attr in _own_members(getattr(skae, name))
]


def _errors(qualname, ignore):
    result = validate(f"skae.{qualname}")
    return [f"{code}: {message}" for code, message in result["errors"] if code not in ignore]


def test_collection_finds_the_public_api():
    # Guards the tests below against silently checking nothing.
    assert "AutoencoderTransformer" in CLASSES
    assert "AutoencoderTransformer.fit" in MEMBERS
    assert "AutoencoderTransformer.transform" in MEMBERS
    assert "AutoencoderTransformer.module_" in MEMBERS
    assert "AutoencoderTransformer.encoder_module" in MEMBERS
    assert "AutoencoderTransformer" in ESTIMATORS
    assert "InconsistentVersionWarning" in CLASSES
    assert not any(m.endswith((".get_params", ".set_output")) for m in MEMBERS)


@pytest.mark.parametrize("name", CLASSES)
def test_class_docstring(name):
    ignore = set() if name in ESTIMATORS else METHOD_IGNORE
    assert _errors(name, ignore=ignore) == []


@pytest.mark.parametrize("qualname", MEMBERS)
def test_member_docstring(qualname):
    assert _errors(qualname, ignore=METHOD_IGNORE) == []


@pytest.mark.parametrize("name", ESTIMATORS)
def test_class_docstring_has_the_estimator_sections(name):
    doc = NumpyDocString(inspect.getdoc(getattr(skae, name)))
    for section in ("Parameters", "Attributes", "See Also", "Examples"):
        assert doc[section], f"{name} has no {section} section"


# In reStructuredText a word ending in "_" is a hyperlink reference, so a
# bare ``(n_features_in_,)`` in a type or a description breaks the docs build
# ("Unknown target name"). Inside backticks it is safe.
_LITERAL = re.compile(r"``.*?``|:[\w:]+:`[^`]*`|`[^`]*`", re.S)
_REFERENCE = re.compile(r"(?<![\w`*|])([A-Za-z]\w*_)(?=[\s,.;:)\]}]|$)")
_TEXT_SECTIONS = ("Summary", "Extended Summary", "Notes", "Warnings")
_ENTRY_SECTIONS = (
    "Parameters", "Returns", "Yields", "Receives", "Other Parameters",
    "Attributes", "Methods", "Raises", "Warns",
)


def _prose(lines):
    """The lines of reST prose, without literal blocks (after ``::``)."""
    out, block_indent = [], None
    for line in lines:
        indent = len(line) - len(line.lstrip())
        if block_indent is not None:
            if not line.strip() or indent > block_indent:
                continue
            block_indent = None
        out.append(line)
        if line.rstrip().endswith("::"):
            block_indent = indent
    return "\n".join(out)


def _bare_references(obj):
    doc = NumpyDocString(inspect.getdoc(obj) or "")
    texts = [_prose(doc[section]) for section in _TEXT_SECTIONS]
    for section in _ENTRY_SECTIONS:
        for entry in doc[section]:
            texts += [entry.type, _prose(entry.desc)]
    return [
        (ref, text.strip().splitlines()[0] if text.strip() else text)
        for text in texts
        for ref in _REFERENCE.findall(_LITERAL.sub("", text))
    ]


def _resolve(qualname):
    obj = skae
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("qualname", CLASSES + MEMBERS)
def test_no_bare_rst_references(qualname):
    assert _bare_references(_resolve(qualname)) == []


def test_bare_rst_reference_detection():
    def documented():
        """Do nothing.

        Returns
        -------
        out : ndarray of shape (n_features_in_,)
            Same as ``mean_`` and `scale_`, unlike t_.
        """

    assert [ref for ref, _ in _bare_references(documented)] == [
        "n_features_in_",
        "t_",
    ]


def _quick(estimator):
    """Shrink an estimator's training so a fit takes milliseconds."""
    params = estimator.get_params(deep=False)
    small = {"max_iter": 2, "hidden_layer_sizes": (8,), "random_state": 0}
    estimator.set_params(**{k: v for k, v in small.items() if k in params})
    if "estimator" in params:
        estimator.set_params(
            estimator=skae.AutoencoderTransformer(
                n_components=2, hidden_layer_sizes=(8,), max_iter=2, random_state=0
            )
        )
    return estimator


@pytest.mark.parametrize("name", ESTIMATORS)
def test_fitted_attributes_are_documented(name):
    X, y = load_digits(return_X_y=True)
    X, y = X[:60], y[:60]
    estimator = _quick(getattr(skae, name)())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if is_regressor(estimator):
            estimator.fit(X, y.astype(float))
        elif is_classifier(estimator):
            estimator.fit(X, y)
        else:
            estimator.fit(X)
    fitted = {
        attr
        for attr in vars(estimator)
        if attr.endswith("_") and not attr.startswith("_")
    }
    fitted |= {
        attr
        for attr in dir(type(estimator))
        if attr.endswith("_")
        and not attr.startswith("_")
        and isinstance(inspect.getattr_static(estimator, attr), property)
    }
    assert fitted, "fit set no public attribute"
    doc = NumpyDocString(inspect.getdoc(type(estimator)))
    documented = {attribute.name for attribute in doc["Attributes"]}
    assert sorted(fitted - documented) == []
