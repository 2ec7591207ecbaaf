"""Estimator files: the one path by which a fitted estimator (the sequence
estimators, the forecaster, the anomaly detector) is written to an rnnkit file
(:mod:`rnnkit.io.files`) and read back.  No code from the file is executed.

An estimator class follows this protocol (and gets ``save`` / ``load`` from
:class:`EstimatorFile`)::

    FILE_KIND                                   the file's kind, e.g. "forecaster"
    _check_fitted(self)                         raises when there is nothing to save
    _file_contents(self) -> (config, arrays)    JSON-able config, {name: ndarray}
    _from_file(cls, config, arrays) -> est      classmethod; KeyError, TypeError or
                                                ValueError when they do not fit

The kinds, and the layout of each, are those the estimators have always
written ("sequence-estimator", "forecaster", "anomaly-detector"), so files
saved by earlier versions still load.
"""
from __future__ import annotations

import numpy as np

from ..layers import Dense
from . import safetensors
from .files import ModelFileError, write_file
from .models import read
from .safetensors import resolve_format


def save(est, path, meta=None, format=None):
    """Write the fitted ``est`` to ``path`` (``meta``: a JSON-able dict kept in
    the header, e.g. the data's column names); returns the path.  ``format``:
    ``"rnnkit"`` or ``"safetensors"`` (:func:`rnnkit.io.models.save`)."""
    est._check_fitted()
    config, arrays = est._file_contents()
    if resolve_format(path, format) == "safetensors":
        return safetensors.write(path, est.FILE_KIND, config, arrays, meta)
    return write_file(path, est.FILE_KIND, config, arrays, meta)


def load(cls, path):
    """The ``cls`` estimator saved in ``path``; a :class:`ModelFileError` naming
    the file when it is not one, or its contents do not fit ``cls``."""
    header, arrays = read(path, cls.FILE_KIND)
    try:
        return cls._from_file(header["config"], arrays)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: the {cls.FILE_KIND} file does not fit a {cls.__name__} ({exc}); "
                             "load it with the class that saved it, or re-save the model") from None


class EstimatorFile:
    """``save`` and ``load`` of an estimator following the protocol above."""

    def save(self, path, meta=None, format=None):
        """Write the fitted estimator to ``path`` as one rnnkit file (``meta``: a
        JSON-able dict kept in its header; ``format="safetensors"``, or a
        ``.safetensors`` path, for that format); returns the path."""
        return save(self, path, meta, format)

    @classmethod
    def load(cls, path):
        """The estimator saved in ``path`` by :meth:`save`."""
        return load(cls, path)


def load_readout(arrays, rnn):
    """The recurrent layer and dense read-out saved under the names ``rnn.*`` and ``head.*``
    (:func:`rnnkit.training.joint_parameters`):
    ``rnn`` (built by the caller) loaded, in evaluation mode, and a float64
    :class:`~rnnkit.layers.Dense` shaped like the saved ``head.weight``.  Returns ``(rnn, head)``."""
    hw = arrays["head.weight"]                                 # (out, in)
    head = Dense(hw.shape[1], hw.shape[0], dtype=np.float64)
    for name, m in (("rnn", rnn), ("head", head)):
        m.load_state_dict({k[len(name) + 1:]: v for k, v in arrays.items() if k.startswith(name + ".")})
    return rnn.eval(), head
