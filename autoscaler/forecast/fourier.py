"""Fourier terms of absolute time: smooth seasonal regressors that need no seasonal lags.

A daily season of 288 five-minute buckets as SARIMA seasonal lags makes a state vector of
hundreds of elements; K sine/cosine pairs describe a smooth daily curve with 2K
coefficients instead. Worked number: K = 4 daily harmonics -> 8 regressors, and the 4th
harmonic still resolves features 6 h wide.
"""

from __future__ import annotations

import numpy as np


def fourier_terms(times_s: np.ndarray, period_s: float, harmonics: int) -> np.ndarray:
    """Columns sin(2 pi k t / P), cos(2 pi k t / P) for k = 1..harmonics; shape (n, 2K)."""
    t = np.asarray(times_s, dtype=float)[:, None]
    k = np.arange(1, harmonics + 1)[None, :]
    angle = 2.0 * np.pi * k * (t % period_s) / period_s  # mod first keeps precision at 1.7e9 s
    return np.hstack([np.sin(angle), np.cos(angle)])
