"""Silence statsmodels' fit chatter (convergence, start parameters, KPSS table bounds).

A poor fit still forecasts and its errors reach the conformal quantile, so the warnings
carry nothing an operator could act on. Importing statsmodels *inside* a
`catch_warnings` block would not do: its exceptions module installs "always" filters at
import, ahead of ours, so it is imported first.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_fit() -> Iterator[None]:
    import statsmodels.tools.sm_exceptions  # noqa: F401  (see the module docstring)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
