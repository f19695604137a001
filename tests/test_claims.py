"""Every number the README quotes is the one its benchmark table holds.

The benchmarks write their tables to ``benchmarks/results/``; each claim
below names the table cell it comes from and the exact text the README
prints. Rerunning a benchmark that changes a number makes this test fail
until the README says the new number.
"""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
RESULTS = ROOT / "benchmarks" / "results"


def rows(name):
    """Rows of every markdown table in ``results/NAME.md``, as lists of cells."""
    out = []
    for line in (RESULTS / f"{name}.md").read_text().splitlines():
        if line.startswith("|") and not set(line) <= {"|", "-", " "}:
            out.append([cell.strip() for cell in line.strip("|").split("|")])
    return out


def cell(name, column, **match):
    """The cell of ``column`` in the one row whose cells match ``match``.

    ``match`` maps column positions (``c0``, ``c1``, ...) to cell texts.
    """
    found = [
        row for row in rows(name)
        if all(len(row) > int(k[1:]) and row[int(k[1:])] == v for k, v in match.items())
    ]
    assert len(found) == 1, (name, match, found)
    return found[0][column]


def quality_ratio(scaling, k):
    return cell("quality", 5, c0="digits", c1=scaling, c2=str(k), c4="skae defaults")


def accuracy(k, model):
    return cell("quality", 3, c0="digits", c1=str(k), c2=model)


def denoising(model):
    return cell("denoising", 3, c0="10", c1=model)


def auc(task, detector):
    section = (RESULTS / "outlier.md").read_text().split("## ")
    text = next(part for part in section if part.startswith(task))
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == detector:
            return cells[1].split(" ")[0]
    raise AssertionError((task, detector))


CLAIMS = [
    # The pitch, rounded to two decimals.
    lambda: f"{float(quality_ratio('raw', 5)):.2f}× PCA's at 5 components",
    lambda: f"{float(quality_ratio('raw', 10)):.2f}× at 10",
    # The quality table.
    lambda: "| digits, raw pixels | {}× | {}× | {}× |".format(
        *(quality_ratio("raw", k) for k in (2, 5, 10))
    ),
    lambda: "| digits, standardised | {}× | {}× | {}× |".format(
        *(quality_ratio("standardised", k) for k in (2, 5, 10))
    ),
    # Classification on the codes.
    lambda: f"the accuracy is {accuracy(2, 'skae defaults')} against\nPCA's "
    f"{accuracy(2, 'PCA')} at 2 components",
    lambda: f"{accuracy(5, 'skae defaults')} against {accuracy(5, 'PCA')} at 5",
    lambda: f"{accuracy(10, 'skae defaults')} against\n{accuracy(10, 'PCA')} at 10",
    # Denoising.
    lambda: f"is {denoising('noisy input')} for the\nnoisy input, "
    f"{denoising('PCA')} for PCA, {denoising('skae AutoencoderTransformer')} "
    "for the plain autoencoder",
    lambda: f"{denoising('skae DenoisingAutoencoderTransformer, noise_level=4')} "
    "for the\ndenoising one",
    # Anomaly detection.
    lambda: f"reach a ROC AUC of {auc('digits', 'skae default')}, against\n"
    f"{auc('digits', 'PCA, same scaling')} for PCA at the same code size and "
    f"{auc('digits', 'IsolationForest')} for `IsolationForest`",
    lambda: f"{auc('breast cancer', 'skae default')} against\nPCA's "
    f"{auc('breast cancer', 'PCA, same scaling')}",
]


@pytest.mark.parametrize("claim", range(len(CLAIMS)))
def test_readme_quotes_the_benchmark(claim):
    text = CLAIMS[claim]()
    assert text in README, f"README should say {text!r}"


def test_small_tables_are_never_worse_than_pca():
    # "the median is at most 1.00× in every cell" of the other bundled tables.
    medians = [
        float(row[5]) for row in rows("quality")
        if len(row) > 5 and row[0] != "digits" and row[4] == "skae defaults"
    ]
    assert len(medians) == 16
    assert max(medians) <= 1.0


def test_readme_search_picks_what_it_says():
    import re
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skae import AutoencoderTransformer, one_standard_error_rule

    X, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        search = GridSearchCV(
            make_pipeline(AutoencoderTransformer(random_state=0), StandardScaler(),
                          LogisticRegression(max_iter=1000)),
            {"autoencodertransformer__n_components": [8, 16, 32]},
            refit=one_standard_error_rule("autoencodertransformer__n_components"),
            cv=3,
        ).fit(X, y)
    chosen = search.best_params_["autoencodertransformer__n_components"]
    said = int(re.search(r"On all the digits this search picks (\d+)", README).group(1))
    assert chosen == said
    assert chosen < 32


@pytest.mark.parametrize(
    "page, table",
    [("docs/user_guide/pretraining.rst", "pretraining"),
     ("docs/user_guide/distributed.rst", "distributed")],
)
def test_user_guide_numbers_come_from_their_benchmark(page, table):
    import re

    text = (ROOT / page).read_text()
    results = (RESULTS / f"{table}.md").read_text()
    quoted = set(re.findall(r"(?<![\d.])\d\.\d{2,3}(?![\d.])", text))
    assert quoted, page
    assert not sorted(n for n in quoted if n not in results)
