"""Training: seeds, stopping rules, partial_fit, verbosity, sparse, callbacks."""

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

from skae import AutoencoderTransformer, DenoisingAutoencoderTransformer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ESTIMATORS = [AutoencoderTransformer, DenoisingAutoencoderTransformer]


# -------------------------------------------------------------- determinism


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("early_stopping", [False, True])
def test_same_seed_gives_bit_identical_models(
    Estimator, early_stopping, X_small, fast_params
):
    params = {**fast_params, "early_stopping": early_stopping, "n_components": 3}
    first = Estimator(**params).fit(X_small)
    second = Estimator(**params).fit(X_small)
    np.testing.assert_array_equal(first.transform(X_small), second.transform(X_small))
    assert first.loss_curve_ == second.loss_curve_
    assert first.validation_scores_ == second.validation_scores_


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_random_state_instance_is_reproducible(Estimator, X_small, fast_params):
    params = {**fast_params, "n_components": 3}
    first = Estimator(**{**params, "random_state": np.random.RandomState(4)})
    second = Estimator(**{**params, "random_state": np.random.RandomState(4)})
    np.testing.assert_array_equal(
        first.fit(X_small).transform(X_small), second.fit(X_small).transform(X_small)
    )


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("seeds", [(0, 1), (0, None)])
def test_different_seeds_give_different_models(Estimator, seeds, X_small, fast_params):
    params = {**fast_params, "n_components": 3}
    first = Estimator(**{**params, "random_state": seeds[0]}).fit(X_small)
    second = Estimator(**{**params, "random_state": seeds[1]}).fit(X_small)
    assert not np.allclose(first.transform(X_small), second.transform(X_small))


def test_unseeded_fits_differ(X_small, fast_params):
    params = {**fast_params, "random_state": None}
    first = AutoencoderTransformer(**params).fit(X_small)
    second = AutoencoderTransformer(**params).fit(X_small)
    assert not np.allclose(first.transform(X_small), second.transform(X_small))


def _global_state():
    return (
        torch.random.get_rng_state().clone(),
        np.random.get_state(),
        random.getstate(),
        torch.get_num_threads(),
        torch.is_grad_enabled(),
        torch.is_inference_mode_enabled(),
        torch.get_default_dtype(),
    )


def _assert_same_global_state(before, after):
    np.testing.assert_array_equal(after[0].numpy(), before[0].numpy())
    for a, b in zip(after[1], before[1]):
        np.testing.assert_array_equal(a, b)
    assert after[2:] == before[2:]


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("random_state", [0, None])
def test_global_state_is_left_alone(Estimator, random_state, X_small):
    # Two intra-op threads, so that a library switching to one thread for a
    # small network has something to restore. Restored below.
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        before = _global_state()
        est = Estimator(
            n_components=3,
            hidden_layer_sizes=(16,),
            max_iter=3,
            early_stopping=True,
            random_state=random_state,
        )
        est.fit(X_small)
        _assert_same_global_state(before, _global_state())
        est.partial_fit(X_small)
        est.set_params(warm_start=True).fit(X_small)
        codes = est.transform(X_small)
        est.inverse_transform(codes)
        est.score(X_small)
        est.score_samples(X_small.astype(np.float32))
        est.fit_transform(X_small)
        _assert_same_global_state(before, _global_state())
    finally:
        torch.set_num_threads(previous_threads)


def test_fit_works_inside_no_grad(X_small, fast_params):
    reference = AutoencoderTransformer(**fast_params).fit(X_small)
    with torch.no_grad():
        est = AutoencoderTransformer(**fast_params).fit(X_small)
        assert not torch.is_grad_enabled()
    assert est.loss_curve_ == reference.loss_curve_
    np.testing.assert_array_equal(est.transform(X_small), reference.transform(X_small))


def test_thread_count_restored_when_training_fails(X_small, fast_params):
    # A callback raising mid-fit stands for any failure during training. The
    # sklearn.callback API is new in scikit-learn 1.9, hence the skip there.
    pytest.importorskip("sklearn.callback")

    class Boom:
        def setup(self, estimator, context):
            pass

        def teardown(self, estimator, context):
            pass

        def on_fit_task_begin(self, estimator, context):
            pass

        def on_fit_task_end(self, estimator, context):
            if context.task_name == "epoch" and context.task_id == 1:
                raise KeyError("boom")

    # Two threads, so that training a small network on one thread has
    # something to restore. Restored below.
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        est = AutoencoderTransformer(**fast_params).set_callbacks(Boom())
        with pytest.raises(KeyError, match="boom"):
            est.fit(X_small)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous_threads)


# ------------------------------------------------------- stopping and curves


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_convergence_warning_when_max_iter_is_too_small(Estimator, X_small):
    est = Estimator(hidden_layer_sizes=(16,), max_iter=2, random_state=0)
    with pytest.warns(ConvergenceWarning, match="max.*iter|Maximum"):
        est.fit(X_small)
    assert est.n_iter_ == 2


def test_no_convergence_warning_when_converged(X_small):
    # With a huge tol, only the first epoch counts as progress (on an infinite
    # best loss, as in MLPRegressor): training stops after n_iter_no_change + 1
    # more epochs without progress, well before max_iter.
    est = AutoencoderTransformer(
        hidden_layer_sizes=(16,),
        max_iter=50,
        tol=10.0,
        n_iter_no_change=2,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X_small)
    assert est.n_iter_ == 1 + 3


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("max_iter", [1, 4])
def test_fitted_training_attributes(Estimator, max_iter, X_small):
    est = Estimator(hidden_layer_sizes=(16,), max_iter=max_iter, random_state=0).fit(
        X_small
    )
    assert est.n_iter_ == max_iter
    assert len(est.loss_curve_) == est.n_iter_
    assert all(np.isfinite(est.loss_curve_))
    assert est.best_loss_ == min(est.loss_curve_)
    assert est.t_ == X_small.shape[0] * est.n_iter_
    assert est.validation_scores_ is None
    assert est.best_validation_score_ is None
    np.testing.assert_allclose(est.mean_, X_small.mean(axis=0))
    assert est.scale_ == pytest.approx(np.sqrt(np.mean(X_small.var(axis=0))))


def test_training_decreases_the_loss(X_small):
    est = AutoencoderTransformer(hidden_layer_sizes=(16,), max_iter=15, random_state=0)
    est.fit(X_small)
    assert est.loss_curve_[-1] < 0.8 * est.loss_curve_[0]
    # The loss is the reconstruction error in input units: after the last
    # epoch the model reconstructs its training data about as well.
    assert -est.score(X_small) == pytest.approx(est.loss_curve_[-1], rel=0.25)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("factor", [10.0, 0.1])
def test_loss_curve_is_in_input_units(Estimator, factor, X_small, fast_params):
    params = {**fast_params, "n_components": 3}
    if Estimator is DenoisingAutoencoderTransformer:
        params["noise_level"] = 0.5
    base = Estimator(**params).fit(X_small)
    if Estimator is DenoisingAutoencoderTransformer:
        params["noise_level"] = 0.5 * factor  # Gaussian noise in input units
    scaled = Estimator(**params).fit(factor * X_small + 1000.0)
    np.testing.assert_allclose(
        scaled.loss_curve_, factor**2 * np.asarray(base.loss_curve_), rtol=1e-3
    )
    assert scaled.score(factor * X_small + 1000.0) == pytest.approx(
        factor**2 * base.score(X_small), rel=1e-3
    )
    # The network sees the same data, so the codes are the same.
    np.testing.assert_allclose(
        scaled.transform(factor * X_small + 1000.0),
        base.transform(X_small),
        rtol=1e-3,
        atol=1e-4,
    )


# ------------------------------------------------------------ early stopping


def _record_epochs():
    """A callback keeping a fitted copy of the model after every epoch."""

    class EpochRecorder:
        def __init__(self):
            self.models = []

        def setup(self, estimator, context):
            pass

        def teardown(self, estimator, context):
            pass

        def on_fit_task_begin(self, estimator, context):
            pass

        def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
            if context.task_name == "epoch":
                self.models.append(fitted_estimator)

    return EpochRecorder()


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("max_iter", [1, 6])
def test_early_stopping_attributes(Estimator, max_iter, X_small):
    est = Estimator(
        hidden_layer_sizes=(16,), early_stopping=True, max_iter=max_iter, random_state=0
    ).fit(X_small)
    assert len(est.validation_scores_) == est.n_iter_ == len(est.loss_curve_)
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert all(np.isfinite(est.validation_scores_))
    assert all(score < 0 for score in est.validation_scores_)
    # Refitting without early stopping clears the validation attributes.
    est.set_params(early_stopping=False).fit(X_small)
    assert est.validation_scores_ is None
    assert est.best_validation_score_ is None


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_early_stopping_restores_the_best_epoch(Estimator, X_small):
    # Uses sklearn.callback to look at every epoch's model; scikit-learn older
    # than 1.9 has no such API, hence the skip there.
    pytest.importorskip("sklearn.callback")
    recorder = _record_epochs()
    est = Estimator(
        n_components=3,
        hidden_layer_sizes=(16,),
        learning_rate_init=0.05,
        batch_size=32,
        early_stopping=True,
        tol=0.0,
        n_iter_no_change=3,
        max_iter=200,
        random_state=0,
    ).set_callbacks(recorder)
    est.fit(X_small)

    scores = est.validation_scores_
    assert est.n_iter_ < 200, "the test needs training to stop on its own"
    assert len(scores) == est.n_iter_ == len(est.loss_curve_)
    assert all(np.isfinite(scores))
    assert est.best_validation_score_ == max(scores)
    best = int(np.argmax(scores))
    # With tol=0 training stops after n_iter_no_change + 1 = 4 epochs that are
    # all worse than the best, so the best epoch is not the last one.
    assert best == est.n_iter_ - 1 - 4
    assert len(recorder.models) == est.n_iter_
    np.testing.assert_array_equal(
        est.transform(X_small), recorder.models[best].transform(X_small)
    )
    assert not np.array_equal(
        est.transform(X_small), recorder.models[-1].transform(X_small)
    )
    # The validation score is a mean over some rows of score_samples.
    per_row = est.score_samples(X_small)
    assert per_row.min() <= est.best_validation_score_ <= per_row.max()


def test_validation_scores_are_in_input_units(X_small):
    params = {
        "hidden_layer_sizes": (16,),
        "early_stopping": True,
        "max_iter": 4,
        "random_state": 0,
    }
    base = AutoencoderTransformer(**params).fit(X_small)
    scaled = AutoencoderTransformer(**params).fit(10.0 * X_small)
    np.testing.assert_allclose(
        scaled.validation_scores_,
        100.0 * np.asarray(base.validation_scores_),
        rtol=1e-3,
    )
    assert all(s < 0 for s in base.validation_scores_)


def test_t_counts_training_rows_only_with_early_stopping(X_small):
    # As in MLPRegressor, t_ counts the samples the optimizer saw; the
    # validation rows are held out.
    est = AutoencoderTransformer(
        hidden_layer_sizes=(16,),
        early_stopping=True,
        validation_fraction=0.25,
        max_iter=3,
        random_state=0,
    ).fit(X_small)
    n_train = X_small.shape[0] - int(np.ceil(0.25 * X_small.shape[0]))
    assert est.t_ == n_train * est.n_iter_


def test_early_stopping_needs_two_samples(X_small):
    est = AutoencoderTransformer(
        hidden_layer_sizes=(4,), early_stopping=True, max_iter=2
    )
    with pytest.raises(ValueError, match="early_stopping"):
        est.fit(X_small[:1])


# --------------------------------------------------- partial_fit, warm_start


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_partial_fit_runs_one_epoch_per_call(Estimator, X_small):
    est = Estimator(hidden_layer_sizes=(16,), max_iter=100, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        for calls in range(1, 4):
            assert est.partial_fit(X_small) is est
            assert est.n_iter_ == calls
            assert len(est.loss_curve_) == calls
            assert est.t_ == calls * X_small.shape[0]
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X_small[:, :10])
    assert est.n_iter_ == 3


def test_partial_fit_after_fit_adds_one_epoch(X_small, fast_params):
    est = AutoencoderTransformer(**fast_params).fit(X_small)
    curve = list(est.loss_curve_)
    est.partial_fit(X_small[:50])
    assert est.n_iter_ == fast_params["max_iter"] + 1
    assert est.loss_curve_[:-1] == curve
    assert est.t_ == fast_params["max_iter"] * X_small.shape[0] + 50


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_warm_start_continues_from_current_weights(Estimator, X_small):
    params = {"hidden_layer_sizes": (16,), "max_iter": 5, "random_state": 0}
    est = Estimator(**params).fit(X_small)
    first_curve = list(est.loss_curve_)
    est.set_params(warm_start=True).fit(X_small)
    assert est.n_iter_ == 10
    assert len(est.loss_curve_) == 10
    assert est.loss_curve_[:5] == first_curve
    assert est.loss_curve_[5] < first_curve[0]
    assert est.t_ == 10 * X_small.shape[0]


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_refit_without_warm_start_starts_over(Estimator, X_small, fast_params):
    est = Estimator(**fast_params).fit(X_small)
    codes = est.transform(X_small)
    est.partial_fit(X_small)
    est.fit(X_small)
    assert est.n_iter_ == fast_params["max_iter"]
    np.testing.assert_array_equal(est.transform(X_small), codes)


# ----------------------------------------------------------------- verbosity


def test_verbose_prints_one_line_per_epoch(X_small, capsys):
    est = AutoencoderTransformer(hidden_layer_sizes=(16,), max_iter=4, random_state=0)
    est.set_params(verbose=1).fit(X_small)
    out = capsys.readouterr().out
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)  # drop colour codes
    rows = [line.split() for line in plain.splitlines()]
    epoch_rows = [row for row in rows if row and row[0].isdigit()]
    assert [int(row[0]) for row in epoch_rows] == list(range(1, est.n_iter_ + 1))
    for row, loss in zip(epoch_rows, est.loss_curve_):
        assert f"{loss:.4f}" in row


def test_short_verbose_fit_shows_no_progress_bar(X_small, capsys):
    # The documented bar only appears for fits longer than a few seconds.
    AutoencoderTransformer(
        hidden_layer_sizes=(16,), max_iter=3, random_state=0, verbose=1
    ).fit(X_small)
    err = capsys.readouterr().err
    assert "epoch/s" not in err and "%|" not in err


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_verbose_zero_prints_nothing(Estimator, X_small, capsys):
    est = Estimator(hidden_layer_sizes=(16,), max_iter=3, random_state=0, verbose=0)
    est.fit(X_small)
    est.partial_fit(X_small)
    est.score(X_small)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""


# -------------------------------------------------------------- small inputs


def test_batch_size_larger_than_n_samples_warns_and_is_clipped(X_small):
    X = X_small[:50]
    params = {"hidden_layer_sizes": (16,), "max_iter": 3, "random_state": 0}
    with pytest.warns(UserWarning, match="batch_size"):
        big = AutoencoderTransformer(batch_size=500, **params).fit(X)
    exact = AutoencoderTransformer(batch_size=50, **params).fit(X)
    np.testing.assert_array_equal(big.transform(X), exact.transform(X))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_single_sample(Estimator, X_small):
    X = X_small[:1]
    est = Estimator(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X)
    assert est.transform(X).shape == (1, 2)
    assert np.all(np.isfinite(est.transform(X)))
    assert np.isfinite(est.score(X))
    est.partial_fit(X)
    assert est.n_iter_ == 4


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("n_components", [1, 2])
def test_single_feature(Estimator, n_components, X_small):
    X = X_small[:, [20]]
    est = Estimator(
        n_components=n_components, hidden_layer_sizes=(8,), max_iter=3, random_state=0
    ).fit(X)
    assert est.transform(X).shape == (X.shape[0], n_components)
    assert est.inverse_transform(est.transform(X)).shape == X.shape
    assert np.isfinite(est.score(X))


def test_constant_data():
    X = np.full((30, 4), 2.5)
    est = AutoencoderTransformer(
        hidden_layer_sizes=(4,), max_iter=3, random_state=0
    ).fit(X)
    assert np.all(np.isfinite(est.transform(X)))
    assert np.isfinite(est.score(X))


# -------------------------------------------------------------------- sparse


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_input_matches_dense(Estimator, fmt, dtype, X_small, fast_params):
    X = X_small.astype(dtype)
    X_sparse = sp.csr_matrix(X).asformat(fmt)
    data_before = X_sparse.copy()
    params = {**fast_params, "n_components": 3}

    dense = Estimator(**params).fit(X)
    sparse = Estimator(**params).fit(X_sparse)
    tol = {"rtol": 1e-4, "atol": 1e-5}
    np.testing.assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=1e-4)
    np.testing.assert_allclose(sparse.transform(X), dense.transform(X), **tol)
    codes = dense.transform(X_sparse)
    assert codes.dtype == dtype
    np.testing.assert_allclose(codes, dense.transform(X), **tol)
    np.testing.assert_allclose(
        dense.score_samples(X_sparse), dense.score_samples(X), rtol=1e-5
    )
    assert dense.score(X_sparse) == pytest.approx(dense.score(X), rel=1e-5)
    sparse.partial_fit(X_sparse)
    # The caller's sparse matrix is untouched.
    assert (X_sparse != data_before).nnz == 0


# ------------------------------------------------------- sklearn callbacks
# scikit-learn >= 1.9 has the sklearn.callback API; older versions lack it,
# so only these tests are skipped there.


class CountingCallback:
    """FitCallback that records every task it sees and can stop training."""

    def __init__(self, stop_after_epoch=None):
        self.stop_after_epoch = stop_after_epoch
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
        self.ended.append((context.task_name, context.task_id, fitted_estimator))
        return (
            self.stop_after_epoch is not None
            and context.task_name == "epoch"
            and context.task_id + 1 >= self.stop_after_epoch
        )


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_callback_sees_one_task_per_epoch(Estimator, X_small):
    pytest.importorskip("sklearn.callback")
    callback = CountingCallback()
    est = Estimator(hidden_layer_sizes=(16,), max_iter=4, random_state=0)
    est.set_callbacks(callback).fit(X_small)
    assert est.n_iter_ == 4
    # One root task plus one task per epoch.
    assert len(callback.begun) == len(callback.ended) == est.n_iter_ + 1
    epochs = [(name, i) for name, i, _ in callback.ended if name == "epoch"]
    assert epochs == [("epoch", i) for i in range(est.n_iter_)]
    assert callback.setups == callback.teardowns == 1
    # Every ended epoch comes with a ready-to-use model of that epoch.
    for i, (_, _, fitted) in enumerate(callback.ended[:-1]):
        assert fitted.n_iter_ == i + 1
        assert fitted.transform(X_small).shape == (X_small.shape[0], 2)


def test_callback_gets_fitted_estimator_at_the_end_of_fit(X_small):
    # As scikit-learn's own estimators do, the root task's end comes with a
    # fitted estimator too (the final model).
    pytest.importorskip("sklearn.callback")
    callback = CountingCallback()
    est = AutoencoderTransformer(hidden_layer_sizes=(16,), max_iter=3, random_state=0)
    est.set_callbacks(callback).fit(X_small)
    name, _, fitted = callback.ended[-1]
    assert name == "fit"
    assert fitted is not None
    np.testing.assert_array_equal(fitted.transform(X_small), est.transform(X_small))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_callback_can_stop_training(Estimator, X_small):
    pytest.importorskip("sklearn.callback")
    callback = CountingCallback(stop_after_epoch=2)
    est = Estimator(hidden_layer_sizes=(16,), max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.set_callbacks(callback).fit(X_small)
    assert est.n_iter_ == 2
    assert len(est.loss_curve_) == 2
    reference = Estimator(hidden_layer_sizes=(16,), max_iter=2, random_state=0).fit(
        X_small
    )
    np.testing.assert_array_equal(est.transform(X_small), reference.transform(X_small))


def test_callback_in_partial_fit(X_small):
    pytest.importorskip("sklearn.callback")
    callback = CountingCallback()
    est = AutoencoderTransformer(hidden_layer_sizes=(16,), random_state=0)
    est.set_callbacks(callback)
    est.partial_fit(X_small).partial_fit(X_small)
    assert [name for name, _ in callback.begun] == ["fit", "epoch"] * 2


def test_callback_on_a_pipeline_step(X_small, y_small):
    pytest.importorskip("sklearn.callback")
    callback = CountingCallback()
    pipe = make_pipeline(
        AutoencoderTransformer(
            hidden_layer_sizes=(16,), max_iter=3, random_state=0
        ).set_callbacks(callback),
        LogisticRegression(max_iter=200),
    ).fit(X_small, y_small)
    assert pipe[0].n_iter_ == 3
    assert [name for name, _, _ in callback.ended].count("epoch") == 3


def test_progress_bar_through_a_pipeline(X_small, y_small, capsys):
    callback = pytest.importorskip("sklearn.callback")
    # ProgressBar is auto-propagated: scikit-learn wants it on the outermost
    # estimator, from where it reaches the autoencoder step during fit.
    pipe = make_pipeline(
        AutoencoderTransformer(hidden_layer_sizes=(16,), max_iter=3, random_state=0),
        LogisticRegression(max_iter=200),
    )
    pipe.set_callbacks(callback.ProgressBar())
    pipe.fit(X_small, y_small)
    assert pipe[0].n_iter_ == 3
    assert "AutoencoderTransformer" in capsys.readouterr().out
    assert not getattr(pipe[0], "_skl_callbacks", None)  # propagation undone
    assert pipe.predict(X_small).shape == y_small.shape


def test_progress_bar_on_the_estimator(X_small, capsys):
    callback = pytest.importorskip("sklearn.callback")
    est = AutoencoderTransformer(hidden_layer_sizes=(16,), max_iter=3, random_state=0)
    est.set_callbacks(callback.ProgressBar()).fit(X_small)
    assert est.n_iter_ == 3
    assert "AutoencoderTransformer" in capsys.readouterr().out


# --------------------------------------------- no half-trained model visible


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("method", ["fit", "partial_fit", "warm_start"])
def test_fit_interrupted_midway_keeps_previous_model(
    Estimator, method, X_small, fast_params, snapshot
):
    # A fit that fails after some training (here: a callback raising at the
    # end of an epoch) must not leave a half-trained model behind. The
    # sklearn.callback API is new in scikit-learn 1.9, hence the skip there.
    pytest.importorskip("sklearn.callback")
    fail_at = 0 if method == "partial_fit" else 1

    class FailAtEpoch(CountingCallback):
        def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
            if context.task_name == "epoch" and context.task_id == fail_at:
                raise KeyError("interrupted")

    est = Estimator(**fast_params).fit(X_small)
    before = snapshot(est, X_small)
    est.set_callbacks(FailAtEpoch())
    with pytest.raises(KeyError, match="interrupted"):
        if method == "partial_fit":
            est.partial_fit(2 * X_small)
        else:
            est.set_params(warm_start=method == "warm_start").fit(2 * X_small)
    est.set_callbacks()
    est.set_params(warm_start=False)
    before.assert_unchanged(est)
