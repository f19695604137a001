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
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skae import AutoencoderTransformer, one_standard_error_rule
    >>> X, _ = load_digits(return_X_y=True)
    >>> search = GridSearchCV(
    ...     AutoencoderTransformer(activation="identity", random_state=0),
    ...     {"n_components": [10, 30, 60]},
    ...     refit=one_standard_error_rule(),
    ... ).fit(X)
    >>> search.best_params_["n_components"] < 60
    True
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
