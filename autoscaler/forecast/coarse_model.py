"""The refit-slowly, update-cheaply loop shared by sarimax, mstl and kalman.

Each kind supplies three pure-ish steps on coarse buckets: `fit` (statsmodels, slow: run on
a cadence, possibly in a worker process), `advance` (absorb new coarse buckets, O(1) each)
and `project` (means for the next coarse steps). This loop does the rest the same way for
all of them: cleaning, coarse buckets aligned to absolute time, when to refit, falling back
to the last value with a note when the history is short, flat or a fit fails.

With `inline_refits` off (the live scaler with a refit pool), `predict` never fits: a due
refit is left to the pool (`refit_due` tells it which), the old parameters keep forecasting
meanwhile, and a model with no parameters yet holds the last value and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from autoscaler.forecast.clean import clean_history, mask_resets
from autoscaler.forecast.coarse import CoarseView, coarse_view
from autoscaler.forecast.first_fit import FirstFitBackoff
from autoscaler.forecast.forecast import PointForecast, last_finite
from autoscaler.forecast.quiet import quiet_fit


@dataclass
class FittedState:
    """What every kind's state carries besides its own numbers."""

    fitted_at_s: float  # history end time the parameters were fitted at
    fitted_on: int  # coarse buckets the parameters were fitted on
    fitted_until_s: float  # end of the newest coarse bucket absorbed
    seasonal: bool  # False when the history was too short for the season
    note: str  # why this fit is simpler than asked; repeated on every forecast until a refit


StateT = TypeVar("StateT", bound=FittedState)


class CoarseModelForecaster(Generic[StateT]):
    """Subclasses set `method`, `min_buckets` and implement fit/advance/project."""

    method = "coarse-model"
    min_buckets = 24  # fewer coarse buckets and a fitted model is mostly noise

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.inline_refits = True
        self._state: StateT | None = None
        self._first_fit = FirstFitBackoff(settings.refit_every_s)

    # -- what each kind provides -------------------------------------------------------
    def fit(self, view: CoarseView, end_s: float) -> StateT:
        raise NotImplementedError

    def advance(self, state: StateT, values: np.ndarray, indices: np.ndarray) -> None:
        raise NotImplementedError

    def project(self, state: StateT, indices: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def season_buckets(self) -> int:
        """Coarse buckets in the main season (0 for a non-seasonal kind)."""
        return 0

    # -- the shared loop ----------------------------------------------------------------
    def view(self, history: np.ndarray, end_s: float) -> CoarseView:
        s = self.settings
        return coarse_view(clean_history(history), end_s, s.bucket_s, s.fit_bucket_s)

    def fit_on(self, history: np.ndarray, end_s: float) -> StateT | None:
        """Parameters for this history, or None when it is too short or flat to fit.
        Pure: safe to run in a worker process; `install` adopts the result."""
        view = self.view(history, end_s)
        if view.values.size < self.min_buckets or _flat(view.values):
            return None
        with quiet_fit():
            state = self.fit(view, end_s)
        state.fitted_until_s = view.end_s
        return state

    def install(self, state: StateT | None) -> None:
        if state is not None:
            self._state = state
            self._first_fit.succeeded()

    def fit_failed(self, end_s: float) -> None:
        """A pool's fit raised: keep the old parameters and retry at the next cadence (a
        first fit: see first_fit.py)."""
        if self._state is not None:
            self._state.fitted_at_s = end_s
        else:
            self._first_fit.failed(end_s)

    def refit_due(self, history: np.ndarray, end_s: float) -> bool:
        """Whether `predict` on this history would refit: what a refit pool asks."""
        view = self.view(history, end_s)
        if view.values.size < self.min_buckets or _flat(view.values):
            return False
        state = self._state
        if state is None:
            return not self._first_fit.waits(end_s)
        new = int(round((view.end_s - state.fitted_until_s) / view.width_s))
        return self._refit_due(state, view.values.size, end_s, new)

    def predict(self, history: np.ndarray, end_s: float, horizon_steps: int) -> PointForecast:
        view = self.view(history, end_s)
        hold = np.full(horizon_steps, last_finite(mask_resets(history)))
        if view.values.size < self.min_buckets:
            return PointForecast(
                hold,
                "last-value",
                f"{self.method} needs {self.min_buckets} buckets of {view.width_s:.0f} s,"
                f" has {view.values.size}",
            )
        if _flat(view.values):
            # A constant series (often all zeros) has nothing to fit and no variance to scale.
            return PointForecast(
                np.full(horizon_steps, view.values[-1]),
                "last-value",
                f"{self.method}: flat history, holding {view.values[-1]:g}",
            )
        state, note = self._current_state(view, end_s)
        if state is None:
            return PointForecast(hold, "last-value", note)
        steps = view.steps_for(horizon_steps)
        coarse_mean = self.project(state, view.end_index + np.arange(steps))
        if not np.all(np.isfinite(coarse_mean)):
            # Never forecast from a state that went non-finite. Without parameters the next
            # call (or pool pass) would fit again at once, and a fit on the same history
            # diverges again: a fit per decision. So it waits as after a failed first fit.
            self._state = None
            self._first_fit.failed(end_s)
            return PointForecast(
                hold,
                "last-value",
                f"{self.method} diverged; holding the last value until a retry",
            )
        mean = np.maximum(view.to_fine(coarse_mean, horizon_steps), 0.0)
        notes = "; ".join(n for n in (state.note, note) if n)
        return PointForecast(mean, self.method, notes)

    def _current_state(self, view: CoarseView, end_s: float) -> tuple[StateT | None, str]:
        state = self._state
        if state is None and self._first_fit.waits(end_s):
            return None, f"{self.method}'s first fit failed; holding the last value until a retry"
        new = int(round((view.end_s - state.fitted_until_s) / view.width_s)) if state else -1
        due = state is None or self._refit_due(state, view.values.size, end_s, new)
        if due and not self.inline_refits:
            if state is None:
                return None, f"{self.method} waits for its first fit from the refit pool"
            if not 0 <= new <= view.values.size:
                return None, f"{self.method} waits for a refit from the refit pool"
            return self._catch_up(state, view, new), ""
        if due:
            try:
                with quiet_fit():
                    fitted = self.fit(view, end_s)
            except Exception as exc:  # numerical failures in statsmodels are not exceptional
                failure = f"{self.method} fit failed ({type(exc).__name__}: {exc})"
                if state is None:
                    self._first_fit.failed(end_s)
                if state is None or not 0 <= new <= view.values.size:
                    return None, f"{failure}; holding the last value"
                fitted_note = f"{failure}; keeping the previous parameters"
                state.fitted_at_s = end_s  # retry at the next cadence, not at every call
            else:
                fitted.fitted_until_s = view.end_s
                self.install(fitted)
                return fitted, ""
            return self._catch_up(state, view, new), fitted_note
        assert state is not None  # a refit is always due without a state
        return self._catch_up(state, view, new), ""

    def _catch_up(self, state: StateT, view: CoarseView, new: int) -> StateT:
        if new > 0:
            self.advance(state, view.values[view.values.size - new :], view.indices()[-new:])
            state.fitted_until_s = view.end_s
        return state

    def _refit_due(self, state: StateT, buckets: int, end_s: float, new: int) -> bool:
        """Young parameters are poor: refit whenever the history has doubled or a second
        season completed, then every `refit_every_s`; also when the window jumped so far
        that the state cannot catch up bucket by bucket."""
        period = self.season_buckets()
        return (
            end_s - state.fitted_at_s >= self.settings.refit_every_s
            or not 0 <= new <= buckets
            or buckets >= 2 * state.fitted_on
            or (not state.seasonal and period >= 2 and buckets > 2 * period)
        )


def _flat(values: np.ndarray) -> bool:
    return float(np.ptp(values)) <= 1e-9 * max(1.0, float(np.abs(values).max()))
