"""Pretraining that hands its weights on: the encoder modules and the
few-labels estimators built on them."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks
from skorch import NeuralNetClassifier
from torch import nn

from skae import AutoencoderTransformer
from skae._supervised import AutoencoderClassifier, AutoencoderRegressor

# The tiny autoencoders below stop after a few epochs on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _expected_failures(estimator):
    if isinstance(estimator, AutoencoderClassifier):
        # The check's last step fits labels {-1, 1}. By scikit-learn's
        # semi-supervised convention -1 marks an unlabeled row, so only one
        # class is labelled and fit raises; scikit-learn exempts its own
        # semi-supervised classifiers from this step by name. The string
        # label steps of the check are run in test_string_labels_as_in_check.
        return {
            "check_classifiers_classes": "labels {-1, 1} mean one class plus unlabeled rows"
        }
    return {}


@parametrize_with_checks(
    [AutoencoderClassifier(), AutoencoderRegressor()],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("dtype", [str, object])
def test_string_labels_as_in_check(n_classes, dtype):
    # The steps of scikit-learn's check_classifiers_classes that apply.
    from sklearn.datasets import make_blobs
    from sklearn.preprocessing import StandardScaler
    from sklearn.utils.estimator_checks import check_classifiers_predictions

    X, y = make_blobs(n_samples=30, random_state=0, cluster_std=0.1)
    X = StandardScaler().fit_transform(X)
    keep = y < n_classes
    names = np.take(["one", "two", "three"], y[keep]).astype(dtype)
    check_classifiers_predictions(X[keep], names, "AutoencoderClassifier", AutoencoderClassifier())


def test_minus_one_is_the_unlabeled_marker_not_a_class(X_small):
    y = np.where(np.arange(len(X_small)) % 2 == 0, -1, 1)
    with pytest.raises(ValueError, match="1 class"):
        _tiny(AutoencoderClassifier).fit(X_small, y)


def _tiny_autoencoder(**params):
    return AutoencoderTransformer(
        n_components=4, hidden_layer_sizes=(8,), max_iter=5, random_state=0, **params
    )


def _tiny(cls, **params):
    params = {"max_iter": 5, "random_state": 0, **params}
    return cls(_tiny_autoencoder(), **params)


def _few_labels(y, n_labelled, marker=-1):
    y_few = np.asarray(y).astype(float if marker is np.nan else y.dtype, copy=True)
    y_few[n_labelled:] = marker
    return y_few


def _flat_weights(module):
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


# ----------------------------------------------------- module <-> transform


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_encoder_module_matches_transform(X_small, dtype):
    X = X_small.astype(dtype)
    ae = _tiny_autoencoder().fit(X)
    encoder = ae.encoder_module()
    with torch.no_grad():
        codes = encoder(torch.as_tensor(X, dtype=torch.float32)).numpy()
    expected = ae.transform(X)
    assert expected.dtype == dtype
    np.testing.assert_allclose(codes, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_decoder_module_matches_inverse_transform(X_small, dtype):
    X = X_small.astype(dtype)
    ae = _tiny_autoencoder().fit(X)
    codes = ae.transform(X)
    with torch.no_grad():
        recon = ae.decoder_module()(torch.as_tensor(codes, dtype=torch.float32)).numpy()
    expected = ae.inverse_transform(codes)
    assert expected.dtype == dtype
    np.testing.assert_allclose(recon, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_modules_are_fresh_copies(X_small):
    ae = _tiny_autoencoder().fit(X_small)
    before = ae.transform(X_small)
    encoder = ae.encoder_module()
    with torch.no_grad():
        for p in encoder.parameters():
            p.add_(1.0)
    np.testing.assert_array_equal(ae.transform(X_small), before)


# ---------------------------------------------------------- fine-tuning


def test_head_only_leaves_encoder_bit_identical(X_small, y_small):
    clf = _tiny(AutoencoderClassifier, fine_tune="head").fit(
        X_small, _few_labels(y_small, 120)
    )
    pretrained = _flat_weights(clf.autoencoder_.encoder_module())
    tuned = _flat_weights(clf.module_.encoder)
    assert torch.equal(pretrained, tuned)
    # The head did train: its weights moved away from their initial values.
    assert clf.n_iter_ >= 1 and clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_fine_tune_all_changes_encoder(X_small, y_small):
    clf = _tiny(AutoencoderClassifier, fine_tune="all", early_stopping=False).fit(
        X_small, _few_labels(y_small, 120)
    )
    pretrained = _flat_weights(clf.autoencoder_.encoder_module())
    tuned = _flat_weights(clf.module_.encoder)
    assert not torch.equal(pretrained, tuned)


def test_encoder_learning_rate_ratio_zero_freezes_encoder_weights(X_small, y_small):
    clf = _tiny(AutoencoderClassifier, encoder_learning_rate_ratio=0.0).fit(
        X_small, _few_labels(y_small, 120)
    )
    assert torch.equal(
        _flat_weights(clf.autoencoder_.encoder_module()), _flat_weights(clf.module_.encoder)
    )


def test_pretrain_false_starts_from_random_weights(X_small, y_small):
    y_few = _few_labels(y_small, 120)
    scratch = _tiny(AutoencoderClassifier, pretrain=False, fine_tune="head").fit(X_small, y_few)
    # The autoencoder saw only the labelled rows, and its weights were dropped.
    assert scratch.autoencoder_.n_features_in_ == X_small.shape[1]
    assert not torch.equal(
        _flat_weights(scratch.autoencoder_.encoder_module()),
        _flat_weights(scratch.module_.encoder),
    )


def test_predict_proba_and_classes(X_small, y_small):
    clf = _tiny(AutoencoderClassifier).fit(X_small, _few_labels(y_small, 120))
    np.testing.assert_array_equal(clf.classes_, np.unique(y_small[:120]))
    proba = clf.predict_proba(X_small)
    assert proba.shape == (len(X_small), len(clf.classes_))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-10)
    np.testing.assert_array_equal(clf.predict(X_small), clf.classes_[proba.argmax(axis=1)])
    assert clf.n_labeled_ == 120


def test_string_labels_with_unlabeled_rows(X_small, y_small):
    y = np.array([f"digit {v}" for v in y_small], dtype=object)
    y[100:] = -1
    clf = _tiny(AutoencoderClassifier).fit(X_small, y)
    assert set(clf.classes_) == set(y[:100])
    assert set(clf.predict(X_small[:20])) <= set(clf.classes_)


def test_random_state_reproducible_and_global_rng_untouched(X_small, y_small):
    y_few = _few_labels(y_small, 120)
    torch_state = torch.random.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()
    a = _tiny(AutoencoderClassifier).fit(X_small, y_few).predict_proba(X_small)
    b = _tiny(AutoencoderClassifier).fit(X_small, y_few).predict_proba(X_small)
    np.testing.assert_array_equal(a, b)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)


def test_early_stopping_keeps_best_epoch(X_small, y_small):
    clf = _tiny(AutoencoderClassifier, max_iter=30, tol=0.0).fit(
        X_small, _few_labels(y_small, 120)
    )
    curve = clf.validation_loss_curve_
    assert len(curve) == clf.n_iter_ == len(clf.validation_scores_)
    assert clf.best_epoch_ == int(np.argmin(curve)) + 1
    off = _tiny(AutoencoderClassifier, max_iter=7, early_stopping=False).fit(
        X_small, _few_labels(y_small, 120)
    )
    assert off.validation_loss_curve_ is None and off.n_iter_ == off.best_epoch_ == 7


# --------------------------------------------------------- unlabeled rows


def test_all_rows_labelled_works(X_small, y_small):
    clf = _tiny(AutoencoderClassifier).fit(X_small, y_small)
    assert clf.n_labeled_ == len(y_small)
    assert clf.score(X_small, y_small) > 0.5


def test_all_rows_unlabeled_is_a_clear_error(X_small):
    with pytest.raises(ValueError, match="unlabeled"):
        _tiny(AutoencoderClassifier).fit(X_small, np.full(len(X_small), -1))
    with pytest.raises(ValueError, match="unlabeled"):
        _tiny(AutoencoderRegressor).fit(X_small, np.full(len(X_small), np.nan))


def test_single_labelled_class_is_a_clear_error(X_small, y_small):
    y = np.full(len(X_small), -1)
    y[:10] = 3
    with pytest.raises(ValueError, match="at least 2 classes"):
        _tiny(AutoencoderClassifier).fit(X_small, y)


def test_failed_fit_leaves_fitted_model_and_inputs_untouched(X_small, y_small):
    clf = _tiny(AutoencoderClassifier).fit(X_small, _few_labels(y_small, 120))
    before = clf.predict_proba(X_small)
    module = clf.module_
    bad = np.full(len(X_small), -1)
    bad_copy = bad.copy()
    X_copy = X_small.copy()
    with pytest.raises(ValueError):
        clf.fit(X_small[:, :10], bad)
    assert clf.module_ is module and clf.n_features_in_ == X_small.shape[1]
    np.testing.assert_array_equal(clf.predict_proba(X_small), before)
    np.testing.assert_array_equal(bad, bad_copy)
    np.testing.assert_array_equal(X_small, X_copy)


def test_regressor_nan_rows_are_unlabeled(X_small, y_small):
    y = y_small.astype(float)
    y_few = _few_labels(y, 150, np.nan)
    reg = _tiny(AutoencoderRegressor).fit(X_small, y_few)
    assert reg.n_labeled_ == 150
    np.testing.assert_allclose(reg.y_mean_, y[:150].mean())
    pred = reg.predict(X_small)
    assert pred.shape == (len(X_small),) and np.all(np.isfinite(pred))
    with pytest.raises(ValueError, match="infinity"):
        _tiny(AutoencoderRegressor).fit(X_small, np.where(np.isnan(y_few), np.inf, y_few))


def test_user_autoencoder_is_not_fitted_in_place(X_small, y_small):
    ae = _tiny_autoencoder()
    clf = AutoencoderClassifier(ae, max_iter=3, random_state=0)
    clf.fit(X_small, _few_labels(y_small, 120))
    assert not hasattr(ae, "n_components_")
    assert clf.autoencoder_ is not ae and clf.n_components_ == 4
    assert clone(clf).autoencoder is not ae


# ------------------------------------------------------------ skorch route


def test_encoder_module_in_skorch_classifier(X_small, y_small):
    ae = _tiny_autoencoder().fit(X_small)
    module = nn.Sequential(ae.encoder_module(), nn.Linear(ae.n_components_, 10))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # a head initialised from an explicit generator
        head = module[1]
        head.weight.uniform_(-0.1, 0.1, generator=generator)
        head.bias.zero_()
    net = NeuralNetClassifier(
        module,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-2,
        max_epochs=3,
        batch_size=64,
        train_split=None,
        iterator_train__shuffle=True,
        iterator_train__generator=torch.Generator().manual_seed(1),
        verbose=0,
    )
    X32 = X_small.astype(np.float32)
    net.fit(X32, y_small.astype(np.int64))
    pred = net.predict(X32)
    assert pred.shape == (len(X_small),)
    assert len(net.history) == 3
    assert net.history[-1, "train_loss"] < net.history[0, "train_loss"]


@pytest.mark.parametrize("mode", [torch.inference_mode, torch.no_grad])
def test_fit_under_the_callers_grad_mode(X_small, y_small, mode):
    with mode():
        clf = _tiny(AutoencoderClassifier).fit(X_small, _few_labels(y_small, 120))
        assert not torch.is_grad_enabled()
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert torch.is_grad_enabled()
