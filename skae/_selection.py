"""Choosing the code size in a grid search."""

import math

import numpy as np


def one_standard_error_rule(param="n_components"):
    """A ``refit`` rule for grid searches: the smallest code that is as good as the best.

    Reconstruction error always falls as the code grows, so the best mean
    test score of a grid search over ``n_components`` is nearly always the
    widest code, which compresses least. This rule, the one-standard-error
    rule of Breiman et al., picks instead the smallest value of ``param``
    whose mean test score is within one standard error of the best one,
    the standard error being the spread of the best candidate's fold scores
    divided by the square root of the number of folds.

    Parameters
    ----------
    param : str, default="n_components"
        Name of the searched parameter, as in the grid (for a pipeline step,
        e.g. ``"autoencodertransformer__n_components"``). Its values must be
        numbers; larger means a bigger model.

    Returns
    -------
    rule : callable
        ``rule(cv_results) -> int``, the index of the chosen candidate, to
        pass as ``refit`` to :class:`~sklearn.model_selection.GridSearchCV`.
        The search's ``best_index_`` and ``best_params_`` then describe the
        chosen candidate; ``best_score_`` is not set.

    Examples
    --------
    Three code sizes scored on four folds: 10 is best, but 5 is within one
    standard error of it (0.2 / sqrt(4) = 0.1), so the rule picks 5.

    >>> from skae import one_standard_error_rule
    >>> cv_results = {
    ...     "param_n_components": [2, 5, 10],
    ...     "mean_test_score": [0.80, 0.93, 0.95],
    ...     "std_test_score": [0.2, 0.2, 0.2],
    ...     **{f"split{i}_test_score": [0.8, 0.93, 0.95] for i in range(4)},
    ... }
    >>> one_standard_error_rule()(cv_results)
    1

    In a search, pass it as ``refit``; for a pipeline, name the step's
    parameter:

    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skae import AutoencoderTransformer
    >>> search = GridSearchCV(
    ...     make_pipeline(AutoencoderTransformer(), LogisticRegression()),
    ...     {"autoencodertransformer__n_components": [5, 10, 20]},
    ...     refit=one_standard_error_rule("autoencodertransformer__n_components"),
    ... )
    """

    def rule(cv_results):
        means = np.asarray(cv_results["mean_test_score"], dtype=float)
        stds = np.asarray(cv_results["std_test_score"], dtype=float)
        n_splits = sum(
            1 for key in cv_results if key.startswith("split") and key.endswith("_test_score")
        )
        best = int(np.nanargmax(means))
        threshold = means[best] - stds[best] / math.sqrt(max(n_splits, 1))
        values = np.asarray(cv_results[f"param_{param}"], dtype=object)
        candidates = [i for i in np.flatnonzero(means >= threshold) if values[i] is not None]
        if not candidates:
            return best
        return int(min(candidates, key=lambda i: float(values[i])))

    return rule
