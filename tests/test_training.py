"""Training, on every registered transformer: seeds, stopping, warm start,
partial_fit, sparse input, warnings, verbosity and scikit-learn callbacks."""

import random
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skae import (
    AutoencoderTransformer,
    DenoisingAutoencoderTransformer,
    VariationalAutoencoderTransformer,
)

# Most fits here run five epochs on purpose; the tests about the
# ConvergenceWarning itself record warnings explicitly, which this filter
# does not affect.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _anchored(Estimator):
    return Estimator is not VariationalAutoencoderTransformer


# -------------------------------------------------------------- determinism


@pytest.mark.parametrize("early_stopping", [False, True])
def test_same_seed_gives_bit_identical_models(Estimator, make, early_stopping, X_small):
    first = make(early_stopping=early_stopping).fit(X_small)
    second = make(early_stopping=early_stopping).fit(X_small)
    np.testing.assert_array_equal(first.transform(X_small), second.transform(X_small))
    assert first.loss_curve_ == second.loss_curve_
    assert first.validation_scores_ == second.validation_scores_


def test_random_state_instance_is_reproducible(Estimator, make, X_small):
    first = make(random_state=np.random.RandomState(4)).fit(X_small)
    second = make(random_state=np.random.RandomState(4)).fit(X_small)
    np.testing.assert_array_equal(first.transform(X_small), second.transform(X_small))


@pytest.mark.parametrize("seeds", [(0, 1), (0, None), (None, None)])
def test_different_seeds_give_different_models(Estimator, make, seeds, X_small):
    first = make(random_state=seeds[0]).fit(X_small)
    second = make(random_state=seeds[1]).fit(X_small)
    codes = first.transform(X_small), second.transform(X_small)
    if first.is_pca_ and second.is_pca_:
        # Both kept PCA's solution, refitted on all rows: it has no seed.
        np.testing.assert_allclose(*codes, rtol=1e-5, atol=1e-6)
    else:
        assert not np.allclose(*codes)


def _global_state():
    return (
        torch.random.get_rng_state().clone(),
        np.random.get_state(),
        random.getstate(),
        torch.get_num_threads(),
        torch.get_num_interop_threads(),
        torch.is_grad_enabled(),
        torch.is_inference_mode_enabled(),
        torch.get_default_dtype(),
    )


def _assert_same_global_state(before, after):
    np.testing.assert_array_equal(after[0].numpy(), before[0].numpy())
    for a, b in zip(after[1], before[1]):
        np.testing.assert_array_equal(a, b)
    assert after[2:] == before[2:]


@pytest.mark.parametrize("random_state", [0, None])
def test_global_state_is_left_alone(Estimator, make, random_state, X_small):
    before = _global_state()
    est = make(random_state=random_state).fit(X_small)
    _assert_same_global_state(before, _global_state())
    est.partial_fit(X_small)
    est.set_params(warm_start=True).fit(X_small)
    codes = est.transform(X_small)
    est.inverse_transform(codes)
    est.score(X_small)
    est.score_samples(X_small.astype(np.float32))
    est.fit_transform(X_small)
    est.encoder_module()(torch.zeros(1, X_small.shape[1]))
    est.decoder_module()
    _assert_same_global_state(before, _global_state())


def test_fit_works_inside_no_grad(Estimator, make, X_small):
    reference = make().fit(X_small)
    with torch.no_grad():
        est = make().fit(X_small)
        assert not torch.is_grad_enabled()
    assert est.loss_curve_ == reference.loss_curve_
    np.testing.assert_array_equal(est.transform(X_small), reference.transform(X_small))


def test_fit_with_another_default_dtype(Estimator, make, X_small):
    reference = make().fit(X_small)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        est = make().fit(X_small)
    finally:
        torch.set_default_dtype(previous)
    np.testing.assert_array_equal(est.transform(X_small), reference.transform(X_small))


# ------------------------------------------------------ ConvergenceWarning


def _convergence_warnings(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [w for w in caught if issubclass(w.category, ConvergenceWarning)]


def test_convergence_warning_when_max_iter_is_too_small(Estimator, make, X_small):
    est = make(max_iter=2)
    caught = _convergence_warnings(lambda: est.fit(X_small))
    assert len(caught) == 1
    assert re.search("Maximum iterations \\(2\\)", str(caught[0].message))
    assert est.n_iter_ == 2


@pytest.mark.parametrize("how", ["fit", "fit_transform", "pipeline"])
def test_convergence_warning_points_at_the_callers_file(
    Estimator, make, how, X_small, y_small
):
    est = make(max_iter=2)
    calls = {
        "fit": lambda: est.fit(X_small),
        "fit_transform": lambda: est.fit_transform(X_small),
        "pipeline": lambda: make_pipeline(est, LogisticRegression(max_iter=50)).fit(
            X_small, y_small
        ),
    }
    # Only skae's warning: the logistic regression may warn too.
    caught = [
        w for w in _convergence_warnings(calls[how])
        if "Maximum iterations (2)" in str(w.message)
    ]
    assert len(caught) == 1
    assert caught[0].filename == __file__


def test_no_convergence_warning_for_auto_max_iter(Estimator, make, X_small):
    # Running the automatic schedule to its end is convergence.
    est = make(max_iter="auto")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X_small)
    assert est.n_iter_ >= 1


def test_no_convergence_warning_when_stopped_early(Estimator, make, X_small):
    # With a huge tol, no epoch counts as progress: training stops once the
    # patience runs out, well before max_iter, and that is convergence.
    est = make(max_iter=200, tol=1e6, n_iter_no_change=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X_small)
    assert est.n_iter_ < 200


def test_no_convergence_warning_from_partial_fit(Estimator, make, X_small):
    est = make(max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.partial_fit(X_small).partial_fit(X_small)
    assert est.n_iter_ == 2


# ------------------------------------------------------- fitted attributes


@pytest.mark.parametrize("max_iter", [1, 4])
def test_fitted_training_attributes_without_validation(Estimator, make, max_iter, X_small):
    est = make(max_iter=max_iter, early_stopping=False).fit(X_small)
    assert est.n_iter_ == max_iter
    assert len(est.loss_curve_) == est.n_iter_
    assert all(np.isfinite(est.loss_curve_))
    assert est.best_loss_ == min(est.loss_curve_)
    assert est.t_ == X_small.shape[0] * est.n_iter_
    assert est.validation_scores_ is None
    assert est.best_validation_score_ is None
    assert est.validation_error_ is None
    assert est.pca_validation_error_ is None  # documented: None without validation rows
    assert isinstance(est.is_pca_, bool)
    assert est.n_components_ == 3
    np.testing.assert_allclose(est.mean_, X_small.mean(axis=0))
    assert est.scale_ == pytest.approx(np.sqrt(np.mean(X_small.var(axis=0))))


@pytest.mark.parametrize("max_iter", [1, 6])
def test_early_stopping_attributes(Estimator, make, max_iter, X_small):
    est = make(max_iter=max_iter).fit(X_small)  # early_stopping is the default
    assert est.early_stopping is True
    assert len(est.validation_scores_) == est.n_iter_ == len(est.loss_curve_)
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert all(np.isfinite(est.validation_scores_))
    assert all(score < 0 for score in est.validation_scores_)
    assert est.validation_error_ > 0
    n_valid = int(np.ceil(0.1 * X_small.shape[0]))
    assert est.t_ == (X_small.shape[0] - n_valid) * est.n_iter_
    if _anchored(Estimator):
        assert est.pca_validation_error_ > 0
        assert est.validation_error_ <= est.pca_validation_error_
        kept_pca = est.validation_error_ == est.pca_validation_error_
        assert est.is_pca_ == kept_pca
        if not est.is_pca_:
            assert est.validation_error_ == pytest.approx(-est.best_validation_score_)
    else:
        assert est.pca_validation_error_ is None
        assert est.is_pca_ is False
        assert est.validation_error_ == pytest.approx(-est.best_validation_score_)


def test_early_stopping_off_trains_on_every_row(Estimator, make, X_small):
    est = make(max_iter=2, early_stopping=False).fit(X_small)
    assert est.t_ == 2 * X_small.shape[0]
    est.set_params(early_stopping=True).fit(X_small)
    assert est.validation_scores_ is not None


def test_training_decreases_the_loss(Estimator, make, X_small):
    est = make(max_iter=15, learning_rate_init=1e-2).fit(X_small)
    assert est.loss_curve_[-1] < est.loss_curve_[0]


@pytest.mark.parametrize("factor", [10.0, 0.1])
def test_losses_and_codes_are_in_input_units(Estimator, make, factor, X_small):
    params = {"noise_level": 0.5} if Estimator is DenoisingAutoencoderTransformer else {}
    base = make(**params).fit(X_small)
    if params:
        params["noise_level"] = 0.5 * factor  # Gaussian noise in input units
    X_scaled = factor * X_small + 1000.0
    scaled = make(**params).fit(X_scaled)
    np.testing.assert_allclose(
        scaled.loss_curve_, factor**2 * np.asarray(base.loss_curve_), rtol=1e-3
    )
    np.testing.assert_allclose(
        scaled.validation_scores_,
        factor**2 * np.asarray(base.validation_scores_),
        rtol=1e-3,
    )
    assert scaled.score(X_scaled) == pytest.approx(factor**2 * base.score(X_small), rel=1e-3)
    # The codes scale with the input as PCA's do; the variational posterior
    # means live in the network's units and do not. (Not to 1e-3: the data
    # shifted by 1000 round differently to float32, and five epochs of
    # training carry that rounding into the weights.)
    code_factor = 1.0 if Estimator is VariationalAutoencoderTransformer else factor
    codes = base.transform(X_small)
    np.testing.assert_allclose(
        scaled.transform(X_scaled),
        code_factor * codes,
        atol=0.02 * code_factor * np.abs(codes).max(),
    )


# --------------------------------------------------- partial_fit, warm_start


def test_partial_fit_runs_one_epoch_per_call(Estimator, make, X_small):
    est = make(max_iter=100)
    for calls in range(1, 4):
        assert est.partial_fit(X_small) is est
        assert est.n_iter_ == calls
        assert len(est.loss_curve_) == calls
        assert est.t_ == calls * X_small.shape[0]
    assert est.validation_scores_ is None
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X_small[:, :10])
    assert est.n_iter_ == 3


def test_first_partial_fit_starts_from_pca(Estimator, make, X_small):
    # An unfitted estimator is initialised from the first batch: for the
    # anchored networks that is PCA of that batch, then one epoch of steps.
    est = make(learning_rate_init=1e-12).partial_fit(X_small)
    assert est.n_components_ == 3
    if _anchored(Estimator):
        from sklearn.decomposition import PCA

        pca = PCA(3).fit(X_small)
        np.testing.assert_allclose(
            est.inverse_transform(est.transform(X_small)),
            pca.inverse_transform(pca.transform(X_small)),
            rtol=1e-4,
            atol=1e-3,
        )


def test_partial_fit_after_fit_adds_one_epoch(Estimator, make, X_small):
    est = make().fit(X_small)
    curve = list(est.loss_curve_)
    t = est.t_
    est.partial_fit(X_small[:50])
    assert est.n_iter_ == 5 + 1
    assert est.loss_curve_[:-1] == curve
    assert est.t_ == t + 50


def test_warm_start_continues_from_current_weights(Estimator, make, X_small):
    est = make(early_stopping=False).fit(X_small)
    first_curve = list(est.loss_curve_)
    weights = {k: v.copy() for k, v in est._model["weights"].items()}
    est.set_params(warm_start=True).fit(X_small)
    assert est.n_iter_ == 10
    assert len(est.loss_curve_) == 10
    assert est.loss_curve_[:5] == first_curve
    assert est.loss_curve_[5] < first_curve[0]
    assert est.t_ == 10 * X_small.shape[0]
    assert any(
        not np.array_equal(weights[k], v) for k, v in est._model["weights"].items()
    )


def test_warm_start_of_an_unfitted_estimator_is_a_plain_fit(Estimator, make, X_small):
    warm = make(warm_start=True).fit(X_small)
    cold = make().fit(X_small)
    np.testing.assert_array_equal(warm.transform(X_small), cold.transform(X_small))


# Parameters that do not shape the network may change between resumed fits.
RESUMABLE = {
    "alpha": 1e-3,
    "learning_rate_init": 3e-3,
    "batch_size": 16,
    "tol": 0.0,
    "early_stopping": False,
}


@pytest.mark.parametrize("method", ["partial_fit", "warm_start"])
@pytest.mark.parametrize("change", list(RESUMABLE))
def test_non_architecture_parameters_may_change_when_resuming(
    Estimator, method, change, X_small, fitted_copy
):
    est = fitted_copy(Estimator)
    est.set_params(**{change: RESUMABLE[change]})
    if method == "partial_fit":
        est.partial_fit(X_small)
        assert est.n_iter_ == 6
    else:
        est.set_params(warm_start=True).fit(X_small)
        assert est.n_iter_ == 10


@pytest.mark.parametrize(
    "Own, change",
    [
        (DenoisingAutoencoderTransformer, {"noise_level": 0.5}),
        (DenoisingAutoencoderTransformer, {"noise": "masking"}),
        (VariationalAutoencoderTransformer, {"beta": 5.0}),
    ],
)
def test_own_parameters_may_change_when_resuming(Own, change, X_small, fitted_copy):
    est = fitted_copy(Own, warm_start=True)
    est.set_params(**change).fit(X_small)
    assert est.n_iter_ == 10
    est.partial_fit(X_small)
    assert est.n_iter_ == 11


def test_refit_without_warm_start_starts_over(Estimator, make, X_small):
    est = make().fit(X_small)
    codes = est.transform(X_small)
    est.partial_fit(X_small)
    est.fit(X_small)
    assert est.n_iter_ == 5
    np.testing.assert_array_equal(est.transform(X_small), codes)


# ----------------------------------------------------------------- verbosity


def test_verbose_says_when_pca_is_kept(capsys):
    X = _low_rank(200, 10, 3, noise=1e-6)
    est = AutoencoderTransformer(3, hidden_layer_sizes=(16,), random_state=0, verbose=1)
    est.fit(X)
    assert est.is_pca_
    assert "did not beat PCA" in capsys.readouterr().out


def test_verbose_zero_prints_nothing(Estimator, make, X_small, capsys):
    est = make(max_iter=3, verbose=0)
    est.fit(X_small)
    est.partial_fit(X_small)
    est.score(X_small)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""


# -------------------------------------------------------------- small inputs


def test_batch_size_larger_than_n_samples_warns_and_is_clipped(Estimator, make, X_small):
    X = X_small[:50]
    with pytest.warns(UserWarning, match="batch_size"):
        big = make(batch_size=500, early_stopping=False).fit(X)
    exact = make(batch_size=50, early_stopping=False).fit(X)
    np.testing.assert_array_equal(big.transform(X), exact.transform(X))


def test_auto_batch_size_follows_the_number_of_rows(Estimator, make, digits):
    # "auto" is n_train // 20 clipped to [32, 256]: t_ / n_iter_ counts
    # rows, and the number of steps shows in Adam's step counter.
    X, _ = digits
    for n_rows, batch in [(240, 32), (1797, 89)]:
        est = make(max_iter=1, early_stopping=False).fit(X[:n_rows])
        steps = est._model["optimizer_state"]["state"][0]["step"]
        assert float(steps) == np.ceil(n_rows / batch)


@pytest.mark.parametrize("n_rows", [1, 2, 3])
def test_few_samples(Estimator, make, n_rows, X_small):
    X = X_small[:n_rows]
    est = make(n_components=1).fit(X)
    assert est.transform(X).shape == (n_rows, 1)
    assert np.all(np.isfinite(est.transform(X)))
    assert np.isfinite(est.score(X))
    assert est.validation_scores_ is None  # too few rows to hold any out
    est.partial_fit(X)
    assert est.n_iter_ == 6


@pytest.mark.parametrize("n_components", [1, 2])
def test_single_feature(Estimator, make, n_components, X_small):
    X = X_small[:, [20]]
    if n_components > 1 and Estimator is not DenoisingAutoencoderTransformer:
        with pytest.raises(ValueError, match="n_components"):
            make(n_components=n_components).fit(X)
        return
    est = make(n_components=n_components).fit(X)
    assert est.transform(X).shape == (X.shape[0], n_components)
    assert est.inverse_transform(est.transform(X)).shape == X.shape
    assert np.isfinite(est.score(X))


def test_constant_data(Estimator, make):
    X = np.full((30, 4), 2.5)
    est = make(n_components=2).fit(X)
    assert np.all(np.isfinite(est.transform(X)))
    assert np.isfinite(est.score(X))
    assert est.scale_ == 1.0


# -------------------------------------------------------------------- sparse


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_input_matches_dense(Estimator, make, fmt, dtype, X_small):
    X = X_small.astype(dtype)
    X_sparse = sp.csr_matrix(X).asformat(fmt)
    data_before = X_sparse.copy()

    dense = make().fit(X)
    sparse = make().fit(X_sparse)
    tol = {"rtol": 1e-4, "atol": 1e-4}
    np.testing.assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=1e-4)
    np.testing.assert_allclose(sparse.transform(X), dense.transform(X), **tol)
    codes = dense.transform(X_sparse)
    assert codes.dtype == dtype
    np.testing.assert_allclose(codes, dense.transform(X), **tol)
    np.testing.assert_allclose(dense.score_samples(X_sparse), dense.score_samples(X), rtol=1e-5)
    sparse.partial_fit(X_sparse)
    # The caller's sparse matrix is untouched.
    assert (X_sparse != data_before).nnz == 0


# ------------------------------------------------------- sklearn callbacks
# scikit-learn >= 1.9 has the sklearn.callback API; older versions lack it,
# so only these tests are skipped there.


class CountingCallback:
    """FitCallback that records every task it sees and can stop training."""

    def __init__(self, stop_after_epoch=None, fail_at_epoch=None):
        self.stop_after_epoch = stop_after_epoch
        self.fail_at_epoch = fail_at_epoch
        self.begun = []
        self.ended = []
        self.setups = 0
        self.teardowns = 0

    def setup(self, estimator, context):
        self.setups += 1

    def teardown(self, estimator, context):
        self.teardowns += 1

    def on_fit_task_begin(self, estimator, context):
        self.begun.append((context.task_name, context.task_id))

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        if context.task_name == "epoch" and context.task_id == self.fail_at_epoch:
            raise KeyError("interrupted")
        self.ended.append((context.task_name, context.task_id, fitted_estimator))
        return (
            self.stop_after_epoch is not None
            and context.task_name == "epoch"
            and context.task_id + 1 >= self.stop_after_epoch
        )


def test_callback_sees_one_task_per_epoch(Estimator, make, X_small):
    pytest.importorskip("sklearn.callback")
    callback = CountingCallback()
    est = make(max_iter=4).set_callbacks(callback).fit(X_small)
    assert est.n_iter_ == 4
    # One root task plus one task per epoch.
    assert len(callback.begun) == len(callback.ended) == est.n_iter_ + 1
    epochs = [(name, i) for name, i, _ in callback.ended if name == "epoch"]
    assert epochs == [("epoch", i) for i in range(est.n_iter_)]
    assert callback.setups == callback.teardowns == 1
    # Every ended epoch comes with a ready-to-use model of that epoch.
    for i, (_, _, fitted) in enumerate(callback.ended[:-1]):
        assert fitted.n_iter_ == i + 1
        assert fitted.transform(X_small).shape == (X_small.shape[0], 3)


def test_callback_gets_fitted_estimator_at_the_end_of_fit(X_small, fast_params):
    pytest.importorskip("sklearn.callback")
    callback = CountingCallback()
    est = AutoencoderTransformer(**fast_params).set_callbacks(callback).fit(X_small)
    name, _, fitted = callback.ended[-1]
    assert name == "fit"
    assert fitted is not None
    np.testing.assert_array_equal(fitted.transform(X_small), est.transform(X_small))


def test_callback_can_stop_training(Estimator, make, X_small):
    pytest.importorskip("sklearn.callback")
    callback = CountingCallback(stop_after_epoch=2)
    est = make(max_iter=50, early_stopping=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.set_callbacks(callback).fit(X_small)
    assert est.n_iter_ == 2
    assert len(est.loss_curve_) == 2


def test_callback_in_partial_fit(X_small, fast_params):
    pytest.importorskip("sklearn.callback")
    callback = CountingCallback()
    est = AutoencoderTransformer(**fast_params).set_callbacks(callback)
    est.partial_fit(X_small).partial_fit(X_small)
    assert [name for name, _ in callback.begun] == ["fit", "epoch"] * 2


def test_callback_on_a_pipeline_step(X_small, y_small, fast_params):
    pytest.importorskip("sklearn.callback")
    callback = CountingCallback()
    pipe = make_pipeline(
        AutoencoderTransformer(**{**fast_params, "max_iter": 3}).set_callbacks(callback),
        LogisticRegression(max_iter=200),
    ).fit(X_small, y_small)
    assert pipe[0].n_iter_ == 3
    assert [name for name, _, _ in callback.ended].count("epoch") == 3


def test_progress_bar_through_a_pipeline(X_small, y_small, fast_params, capsys):
    callback = pytest.importorskip("sklearn.callback")
    # ProgressBar is auto-propagated: scikit-learn wants it on the outermost
    # estimator, from where it reaches the autoencoder step during fit.
    pipe = make_pipeline(
        AutoencoderTransformer(**{**fast_params, "max_iter": 3}),
        LogisticRegression(max_iter=200),
    )
    pipe.set_callbacks(callback.ProgressBar())
    pipe.fit(X_small, y_small)
    assert pipe[0].n_iter_ == 3
    assert "AutoencoderTransformer" in capsys.readouterr().out
    assert not getattr(pipe[0], "_skl_callbacks", None)  # propagation undone
    assert pipe.predict(X_small).shape == y_small.shape


# --------------------------------------------- no half-trained model visible


@pytest.mark.parametrize("method", ["fit", "partial_fit", "warm_start"])
def test_fit_interrupted_midway_keeps_previous_model(
    Estimator, method, X_small, snapshot, fitted_copy
):
    # A fit that fails after some training (here: a callback raising at the
    # end of an epoch) must not leave a half-trained model behind.
    pytest.importorskip("sklearn.callback")
    fail_at = 0 if method == "partial_fit" else 1
    est = fitted_copy(Estimator)
    before = snapshot(est, X_small)
    est.set_callbacks(CountingCallback(fail_at_epoch=fail_at))
    with pytest.raises(KeyError, match="interrupted"):
        if method == "partial_fit":
            est.partial_fit(2 * X_small)
        else:
            est.set_params(warm_start=method == "warm_start").fit(2 * X_small)
    est.set_callbacks()
    est.set_params(warm_start=False)
    before.assert_unchanged(est)


def _low_rank(n_samples, n_features, rank, noise, seed=0):
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n_samples, rank)) * np.arange(rank, 0, -1)
    return latent @ rng.normal(size=(rank, n_features)) + noise * rng.normal(
        size=(n_samples, n_features)
    )
