"""One model's decision path: Window -> forecasters -> planner. Shared by sim and production.

The engine owns mutable bits (history, fitted forecasters, planner state); the decision
itself stays in the pure `planner.decide`. Forecasts are recomputed once per completed
bucket, not per call, so asking twice in a bucket costs a dictionary lookup.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from autoscaler.decision import Decision, PastAnswer, PlannerState
from autoscaler.forecast.conformal import ConformalUpper
from autoscaler.forecast.forecast import Forecast
from autoscaler.forecast.refit_pool import RefitJob, refittables
from autoscaler.forecast.registry import build_with_upper
from autoscaler.observation import Observation
from autoscaler.planner import decide, held_decision
from autoscaler.profile import ModelProfile
from autoscaler.queue_work import arrived_token_rates
from autoscaler.window import Window


class ModelEngine:
    def __init__(
        self,
        profile: ModelProfile,
        initial_replicas: int | None = None,
        *,
        inline_refits: bool = True,
    ) -> None:
        """`inline_refits=False`: forecasters never fit inside `decide`; a refit pool fits
        them from `refit_jobs` (the live scaler). Simulations keep them inline."""
        self.profile = profile
        self.inline_refits = inline_refits
        settings = profile.forecast
        self.window = Window(settings.bucket_s, settings.history_s)
        self._prompt = self._build_forecaster()
        self._generation = self._build_forecaster()
        start = profile.replicas.min if initial_replicas is None else initial_replicas
        self.state = PlannerState(replicas=start)
        # Whether `state.replicas` is the fleet's real size: given by the caller (the
        # simulator), or learned from data fresh enough to decide on. Until then it is only
        # `replicas.min`, a guess that must not drive a scale-down.
        self._fleet_known = initial_replicas is not None
        self._forecast_end_s: float | None = None
        self._forecasts: tuple[Forecast, Forecast] | None = None
        self.last_decision: Decision | None = None

    def reconfigure(self, profile: ModelProfile, now_s: float) -> None:
        """Adopts a reloaded profile without losing history or the current replica count.

        Planner-only changes (capacity, SLO, bounds) take effect at the next decision, a
        held one included: the replica count moves inside new bounds at once (an operator
        raising `replicas.min` while metrics are stale gets it now, as a fresh engine with
        that profile would). A longer or shorter horizon (cold start, interval) forecasts
        again instead of reusing this bucket's forecasts, which end at the old horizon. A
        changed forecast section refits from scratch on the same history; a changed bucket
        or history width re-buckets the window first.
        """
        old_profile, old = self.profile, self.profile.forecast
        self.profile = profile
        new = profile.forecast
        bounds = profile.replicas
        held = min(max(self.state.replicas, bounds.min), bounds.max)
        if held != self.state.replicas:
            self.state = PlannerState(held, self.state.recent)
        if profile.horizon_s != old_profile.horizon_s:
            self._forecast_end_s = None
        if new == old:
            return
        if (new.bucket_s, new.history_s) != (old.bucket_s, old.history_s):
            self.window = self.window.resized(new.bucket_s, new.history_s, now_s)
        self._prompt = self._build_forecaster()
        self._generation = self._build_forecaster()
        self._forecast_end_s = None
        self._forecasts = None

    def _build_forecaster(self) -> ConformalUpper:
        forecaster = build_with_upper(self.profile.forecast)
        for part in refittables(forecaster):
            part.inline_refits = self.inline_refits
        return forecaster

    def refit_jobs(self, now_s: float) -> list[RefitJob]:
        """The forecaster parts whose parameters are due for a refit, each with a copy of its
        series as `decide` would see it now: work for a refit pool."""
        history, end_s = self.window.complete(now_s)
        if history.shape[1] == 0:
            return []
        return [
            RefitJob(part, series.copy(), end_s)
            for forecaster, series in ((self._prompt, history[0]), (self._generation, history[1]))
            for part in refittables(forecaster)
            if part.refit_due(series, end_s)
        ]

    def drop_cached_forecasts(self) -> None:
        """New parameters were installed: the next decision forecasts again instead of
        reusing this bucket's forecasts (up to a bucket late)."""
        self._forecast_end_s = None

    @property
    def last_forecasts(self) -> tuple[Forecast, Forecast] | None:
        """The (prompt, generation) forecasts behind the latest decision, if any."""
        return self._forecasts

    def observe(self, obs: Observation) -> bool:
        """Adds `obs` to the history (its token rates corrected by the queue's change, see
        `queue_work.arrived_token_rates`); False when it is refused.

        No ready replicas while the fleet has replicas means pods starting (or lost): vLLM
        exports nothing for them, so the sample says nothing about demand. It is dropped and
        the decision holds, then turns invalid, as for any missing data; never a scale-down.
        """
        if obs.ready_replicas == 0 and self._fleet_replicas(obs.t_s) > 0:
            return False
        # The forecasters learn what arrived, not what was served: a burst's backlog drain
        # is not a second burst.
        return self.window.add(obs, arrived_token_rates(obs, self.window.latest, self.profile))

    def observe_no_series(self, now_s: float) -> bool:
        """The source answered, but no pod of the model exports metrics.

        At zero replicas that is the truth, not missing data: nothing serves, and vLLM
        cannot report a queue it does not hold. It is recorded as an explicit zero
        observation, so decisions stay fresh and the forecast can wake the model (IsActive)
        ahead of demand. With replicas, it is missing data (`observe` drops it). An engine
        that has never seen this model's series cannot tell zero pods from a scrape that
        misses them, and holds too.
        """
        if self.window.latest is None and not self._fleet_known:
            return False
        return self.observe(Observation(now_s, 0.0, 0.0, 0.0, 0.0, 0.0, ready_replicas=0))

    def _fleet_replicas(self, now_s: float) -> int:
        """The fleet size the engine believes in, after learning it from data if it can.

        A (re)started engine first learns how many replicas already serve, from the newest
        observation still younger than `staleness.error_after_s` (older says nothing about
        now). Starting from `replicas.min` would answer "1" to KEDA after a restart and shed
        a fleet; the scale-down delay runs from now, as if that count had just been decided.
        Holds decided before (no data yet, stale data) teach nothing: learning ends only
        with data fresh enough to decide on.
        """
        latest = self.window.latest
        if not self._fleet_known and latest is not None:
            age_s = now_s - latest.t_s
            if age_s <= self.profile.staleness.error_after_s:
                if latest.ready_replicas > self.state.replicas:
                    ready = latest.ready_replicas
                    self.state = PlannerState(ready, (*self.state.recent, (now_s, ready)))
                self._fleet_known = age_s <= self.profile.staleness.hold_after_s
        return self.state.replicas

    def forecasts(self, now_s: float) -> tuple[Forecast, Forecast] | None:
        bucket_s = self.profile.forecast.bucket_s
        end_s = (now_s // bucket_s) * bucket_s
        if end_s != self._forecast_end_s:
            history, end_s = self.window.complete(now_s)
            if history.shape[1] == 0:
                return None
            steps = math.ceil(self.profile.horizon_s / bucket_s) + 1
            self._forecasts = (
                self._prompt.forecast(history[0], end_s, steps),
                self._generation.forecast(history[1], end_s, steps),
            )
            self._forecast_end_s = end_s
        return self._forecasts

    def follow(self, replicas: int, hold: Sequence[tuple[float, int]]) -> None:
        """Another replica's answer for this model is the one KEDA acts on (a more senior
        Prewarm replica's, peers/agreement.py): its replica count and its scale-down hold
        (recommendations as far as honoured) become this engine's. So if that replica goes
        away, this one carries on from the fleet KEDA really asked for and from the hold that
        replica had, instead of from its own, never-applied answers. Fleet learning from data
        goes on: it may still raise the count to the replicas found ready."""
        self.state = PlannerState(replicas, tuple(sorted(hold)))

    def restore_hold(self, answers: Sequence[PastAnswer], now_s: float) -> bool:
        """Starts the scale-down hold from what Prewarm decided before a restart.

        `answers` are read back from Prometheus (decision_history.py). The recommendations
        inside the scale-down delay become the hold, as far as they were honoured, and the
        newest answer is the fleet KEDA was asked for: the first decisions after a restart
        neither drop under that hold nor step down past the rate limit, and pods still
        starting are not shed because only the ready ones were visible. Fleet learning from
        data goes on, so a fleet larger than that answer (KEDA's fallback ran it, say) is not
        cut at once either. False when no answer is recent enough to count.
        """
        since_s = now_s - self.profile.scaling.scale_down_delay_s
        recent = sorted(a for a in answers if since_s < a.t_s <= now_s)
        if not recent:
            return False
        hold = tuple((a.t_s, a.recommended) for a in recent)
        self.state = PlannerState(max(self.state.replicas, recent[-1].replicas), hold)
        return True

    def decide(self, now_s: float) -> Decision:
        self._fleet_replicas(now_s)
        forecasts = self.forecasts(now_s)
        prompt, generation = forecasts if forecasts else (None, None)
        decision, self.state = decide(
            self.window.latest,
            prompt,
            generation,
            self.profile,
            self.state,
            now_s,
            previous=self.window.previous,
        )
        self.last_decision = decision
        return decision

    def hold(self, now_s: float, failure: str) -> Decision:
        """The answer when `decide` raised (`failure` says why): the replicas in force, held
        and aging from the data behind the last decision like missing data does, so past
        `staleness.error_after_s` it is invalid and KEDA's fallback takes over."""
        last = self.last_decision
        data_t_s = None if last is None else last.t_s - last.data_age_s
        decision = held_decision(data_t_s, self.profile, self.state, now_s, failure)
        assert decision is not None  # a failure always holds
        self.last_decision = decision
        return decision
