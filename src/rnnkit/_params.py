"""scikit-learn's parameter protocol, shared by rnnkit's estimators.

The hyperparameters are the arguments of ``__init__`` (stored unchanged as
attributes of the same names), so that ``sklearn.base.clone``, ``GridSearchCV``
and ``Pipeline`` can read and set them; no scikit-learn import is needed.
"""
from __future__ import annotations

import inspect


class Params:
    """``get_params(deep=True)``, ``set_params(**params)`` and a ``repr`` from
    ``__init__``'s signature."""

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
