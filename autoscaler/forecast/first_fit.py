"""When to try again after a model's first fit failed.

Without parameters a forecaster holds the last value. Retrying the fit at every call would
spend a statsmodels fit (tens of ms) per decision on a series that just failed one, for as
long as it keeps failing; a refit pool would queue it on every pass. So a failed first fit
waits an hour, or the refit cadence if that is shorter, before the next attempt.
"""

from __future__ import annotations

from dataclasses import dataclass

FIRST_FIT_RETRY_S = 3600.0


@dataclass
class FirstFitBackoff:
    refit_every_s: float
    failed_at_s: float | None = None

    def failed(self, end_s: float) -> None:
        self.failed_at_s = end_s

    def succeeded(self) -> None:
        self.failed_at_s = None

    def waits(self, end_s: float) -> bool:
        """Whether a first fit failed less than the retry interval before `end_s`."""
        retry_s = min(FIRST_FIT_RETRY_S, self.refit_every_s)
        return self.failed_at_s is not None and end_s - self.failed_at_s < retry_s
