"""scikit-learn's parameter protocol, shared by rnnkit's estimators.

The hyperparameters are the arguments of ``__init__`` (stored unchanged as
attributes of the same names), so that ``sklearn.base.clone``, ``GridSearchCV``
and ``Pipeline`` can read and set them; no scikit-learn import is needed.
"""
from __future__ import annotations

import contextlib
import functools
import inspect

import numpy as np


def plain(value):
    """A label (or parameter) as Python shows it (``'a'``, ``3``), not NumPy's
    ``np.str_('a')`` (which JSON cannot write); lists, tuples, ranges and arrays
    element by element (as lists), sets sorted."""
    if isinstance(value, (set, frozenset)):
        return [plain(v) for v in sorted(value)]
    if isinstance(value, (list, tuple, range, np.ndarray)):
        return [plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


@contextlib.contextmanager
def restored_on_failure(obj, errors=BaseException):
    """A block after which an exception of ``errors`` leaves ``obj``'s attributes
    as they were before it (then propagates)."""
    before = dict(obj.__dict__)
    try:
        yield
    except errors:
        obj.__dict__.clear()
        obj.__dict__.update(before)
        raise


def keeps_fitted_state_on_failure(fit):
    """For ``fit`` methods: an exception leaves the estimator as it was before the
    call (a fitted model stays fitted and usable, an unfitted one unfitted), then
    propagates."""
    @functools.wraps(fit)
    def guarded(self, *args, **kwargs):
        with restored_on_failure(self):
            return fit(self, *args, **kwargs)
    return guarded


class Params:
    """``get_params(deep=True)``, ``set_params(**params)`` and a ``repr`` from
    ``__init__``'s signature, and scikit-learn's tags (``check_is_fitted`` needs them)."""

    _sk_type = None          # "classifier", "regressor" or None
    _sk_target_required = False

    @classmethod
    def _param_names(cls):
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep=True):
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params):
        valid = self._param_names()
        for k, v in params.items():
            if k not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {k!r}; valid: {', '.join(valid)}")
            setattr(self, k, v)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def plain_params(self):
        """:meth:`get_params` with NumPy scalars as Python numbers (a grid search's
        ``np.int64``), for a JSON file."""
        return {k: plain(v) for k, v in self.get_params().items()}

    def __sklearn_tags__(self):  # called by scikit-learn only, so it is importable here
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(estimator_type=self._sk_type, target_tags=TargetTags(required=self._sk_target_required),
                    classifier_tags=ClassifierTags() if self._sk_type == "classifier" else None,
                    non_deterministic=False)
