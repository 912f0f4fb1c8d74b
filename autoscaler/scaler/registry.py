"""Every ScaledObject KEDA asks about, each refreshed in the background.

RPC handlers only `track()` (cheap, no I/O) and read `Tracked.decision`. A background task
per ScaledObject back-fills history once, then every decision interval reads the latest
observation, runs the engine (in a worker thread: a forecaster refit must not stall the
event loop) and publishes the decision. A ScaledObject no one asked about for
`idle_after_s` is dropped, so deleted ScaledObjects do not poll Prometheus forever.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from autoscaler.clock import Clock
from autoscaler.decision import Decision, PastAnswer
from autoscaler.engine import ModelEngine
from autoscaler.metrics.decision_history import DecisionHistory
from autoscaler.metrics.source import MetricSource, MetricSourceError
from autoscaler.profile import ModelProfile
from autoscaler.scaler.metadata import MetadataError, ScalerTarget
from autoscaler.scaler.peers.agreement import (
    PeerDecision,
    agreed,
    as_peer_decision,
    senior,
)
from autoscaler.scaler.peers.report import PeerReport, ReportedDecision, TargetKey, target_key
from autoscaler.scaler.profile_book import ProfileBook
from autoscaler.scaler.prometheus_addresses import NO_OVERRIDES, PrometheusAddresses
from autoscaler.scaler.tracked import Tracked
from autoscaler.scaler.tracking_limit import DEFAULT_MAX_SCALED_OBJECTS, TooManyScaledObjects

log = logging.getLogger("prewarm.decisions")

SourceFor = Callable[[str | None], MetricSource]  # prometheusAddress override -> source
Listener = Callable[[Tracked, Decision], None]
EngineFor = Callable[[ModelProfile], ModelEngine]  # e.g. engines whose refits go to a pool
T = TypeVar("T")


class ScalerRegistry:
    def __init__(
        self,
        profiles: ProfileBook,
        source_for: SourceFor,
        clock: Clock,
        *,
        source_timeout_s: float = 2.0,
        idle_after_s: float = 3600.0,
        max_tracked: int = DEFAULT_MAX_SCALED_OBJECTS,
        backfill: bool = True,
        listeners: tuple[Listener, ...] = (),
        engine_for: EngineFor = ModelEngine,
        on_drop: tuple[Callable[[Tracked], None], ...] = (),
        on_refused: tuple[Callable[[int], None], ...] = (),
        on_profiles: tuple[Callable[[ProfileBook], None], ...] = (),
        prometheus_addresses: PrometheusAddresses = NO_OVERRIDES,
        peers: PeerView | None = None,
    ) -> None:
        self.profiles = profiles
        self.source_for = source_for
        self.clock = clock
        self.source_timeout_s = source_timeout_s
        self.idle_after_s = idle_after_s
        self.max_tracked = max_tracked  # a new ScaledObject past this many is refused
        self.backfill = backfill
        self.listeners = listeners
        self.engine_for = engine_for
        self.on_drop = on_drop  # told when an idle ScaledObject is dropped (its gauges go)
        self.on_refused = on_refused  # told how many new ScaledObjects were refused
        self.on_profiles = on_profiles  # told the new book when a reload swaps it in
        # The `prometheusAddress` values honoured (from the serve config).
        self.prometheus_addresses = prometheus_addresses
        # Other Prewarm replicas' decisions: with them, every replica answers the most senior
        # replica's decision for each ScaledObject (peers/agreement.py).
        self.peers = peers
        self._tracked: dict[ScalerTarget, Tracked] = {}
        self._running = False
        # Back-fills are big range queries plus thousands of window inserts: a few at a time,
        # so a restart with a thousand ScaledObjects does not starve the RPC path.
        self._backfills = asyncio.Semaphore(4)
        # Decisions are short CPU work (a refit now and then): one worker thread, so at most
        # one thread competes with the RPC loop for the GIL, however many models there are.
        self._decider = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prewarm-decide")

    def __len__(self) -> int:
        return len(self._tracked)

    def all(self) -> list[Tracked]:
        return list(self._tracked.values())

    def track(self, target: ScalerTarget) -> Tracked:
        """The entry for `target`, created (and its refresher started) on first sight.
        Raises MetadataError when its Prometheus is not allowed or no profile fits, and
        TooManyScaledObjects when it is new and `max_tracked` are tracked already."""
        tracked = self._tracked.get(target)
        now_s = self.clock.now_s()
        if tracked is None:
            self.prometheus_addresses.check(target.prometheus_url)
            profile = self.profiles.resolve(target)
            if len(self._tracked) >= self.max_tracked:
                self.note_refused(1)
                raise TooManyScaledObjects(self.max_tracked, target.scaled_object)
            tracked = Tracked(
                target,
                engine=self.engine_for(profile),
                source=self.source_for(target.prometheus_url),
                last_seen_s=now_s,
                tracked_since_s=now_s,
            )
            self._tracked[target] = tracked
            # A senior replica's answer is there before this one's first decision.
            self._publish(tracked)
            if self._running:
                tracked.task = asyncio.get_running_loop().create_task(self._run(tracked))
        tracked.last_seen_s = now_s
        return tracked

    def note_refused(self, count: int) -> None:
        """`count` new ScaledObjects were refused past `max_tracked`, here or by the gRPC
        front process (which refuses them itself and tells this process how many)."""
        for notify in self.on_refused:
            notify(count)

    async def replace_profiles(self, book: ProfileBook) -> None:
        """Swaps in a new profile book, all or nothing.

        Every tracked ScaledObject is resolved against the new book first; if any fails (its
        profile was removed), nothing changes and MetadataError lists each failure. Engines
        adopt their new profile on the decision thread, so no decision sees half a profile.
        The book is swapped before that wait: a ScaledObject first tracked during it gets its
        profile from the new book (the old one would never be reconfigured, or could name a
        profile this reload removed).
        """
        resolved: dict[ScalerTarget, ModelProfile] = {}
        problems: list[str] = []
        for target in self._tracked:
            try:
                resolved[target] = book.resolve(target)
            except MetadataError as exc:
                problems.extend(f"{target.scaled_object}: {p}" for p in exc.problems)
        if problems:
            raise MetadataError(problems)
        # No await between the check above and here: nothing is tracked in between.
        self.profiles = book
        for notify in self.on_profiles:
            notify(book)
        now_s = self.clock.now_s()

        def adopt() -> None:
            for target, profile in resolved.items():
                tracked = self._tracked.get(target)
                if tracked is not None and tracked.engine.profile != profile:
                    tracked.engine.reconfigure(profile, now_s)

        await self.on_decider(adopt)

    async def on_decider(self, work: Callable[[], T]) -> T:
        """Runs `work` on the decision thread: the one place engines are touched, so reads
        (history for the operators' API) never see an engine mid-update."""
        return await asyncio.get_running_loop().run_in_executor(self._decider, work)

    def start(self) -> None:
        self._running = True
        loop = asyncio.get_running_loop()
        for tracked in self._tracked.values():
            if tracked.task is None:
                tracked.task = loop.create_task(self._run(tracked))

    async def close(self) -> None:
        self._running = False
        tasks = [t.task for t in self._tracked.values() if t.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._decider.shutdown(wait=False, cancel_futures=True)

    async def backfill_history(self, tracked: Tracked) -> int:
        """Loads the window's history from the source so a restart loses nothing."""
        settings = tracked.engine.profile.forecast
        async with self._backfills:
            end_s = self.clock.now_s()
            try:
                history = await asyncio.wait_for(
                    tracked.source.history(
                        tracked.query, end_s - settings.history_s, end_s, settings.bucket_s
                    ),
                    timeout=max(self.source_timeout_s, 30.0),
                )
            except (MetricSourceError, TimeoutError) as exc:
                log.warning("back-fill failed for %s: %s", tracked.target.scaled_object, exc)
                return 0

            answers = await self._past_answers(tracked, end_s)

            def load() -> None:  # off the event loop: days of minutes are many inserts
                for obs in history:
                    tracked.engine.observe(obs)
                if answers:
                    tracked.engine.restore_hold(answers, end_s)

            await asyncio.get_running_loop().run_in_executor(self._decider, load)
            return len(history)

    async def _past_answers(self, tracked: Tracked, end_s: float) -> list[PastAnswer]:
        """What Prewarm answered for `tracked` over its scale-down delay before this start, if
        the source keeps it (decision_history.py); nothing when it cannot say."""
        if not isinstance(tracked.source, DecisionHistory):
            return []
        profile = tracked.engine.profile
        step_s = max(1.0, profile.decision_interval_s)
        start_s = end_s - profile.scaling.scale_down_delay_s
        try:
            return await asyncio.wait_for(
                tracked.source.past_answers(tracked.target.scaled_object, start_s, end_s, step_s),
                timeout=max(self.source_timeout_s, 10.0),
            )
        except (MetricSourceError, TimeoutError) as exc:
            log.warning("reading past answers failed for %s: %s", tracked.target.scaled_object, exc)
            return []

    async def refresh_once(self, tracked: Tracked) -> Decision:
        """One cycle: read the latest observation (if the source answers), decide, publish."""
        now_s = self.clock.now_s()
        try:
            # asyncio.timeout, not wait_for: no extra task per call, and this runs for every
            # ScaledObject every interval on the loop that answers KEDA.
            async with asyncio.timeout(self.source_timeout_s):
                obs = await tracked.source.latest(tracked.query, now_s)
            tracked.last_error = ""
            if obs is not None:
                tracked.engine.observe(obs)
            else:
                # Prometheus answered, without series: at zero replicas that is a fact (nothing
                # serves), not missing data, so the forecast can still wake the model.
                tracked.engine.observe_no_series(now_s)
        except (MetricSourceError, TimeoutError) as exc:
            tracked.last_error = str(exc) or type(exc).__name__
        except Exception as exc:  # a bug reading or adding the sample: missing data all the same
            if not tracked.last_error:  # the traceback once, not every interval
                log.error("reading %s failed", tracked.target.scaled_object, exc_info=exc)
            tracked.last_error = failure_text(exc)
        # The planner turns missing data into "hold", then "invalid" past the bound.
        followed = self._senior_peer(tracked)
        loop = asyncio.get_running_loop()
        try:
            tracked.own = await loop.run_in_executor(
                self._decider, _decide_following, tracked.engine, followed, now_s
            )
            tracked.refresh_error = ""
        except Exception as exc:  # a forecaster's bug, memory a profile cannot have
            tracked.own = await self._refresh_failed(tracked, exc, now_s)
        return self._publish(tracked) or tracked.own

    async def _refresh_failed(self, tracked: Tracked, exc: Exception, now_s: float) -> Decision:
        """A decision that raised ages the answer like missing data (`engine.hold`): keeping
        the last one would serve it as fresh for ever, never reaching KEDA's fallback."""
        failure = failure_text(exc)
        if not tracked.refresh_error:  # the traceback once, not every interval
            log.error("refresh failed for %s", tracked.target.scaled_object, exc_info=exc)
        tracked.refresh_error = failure
        tracked.refresh_failures += 1
        return await self.on_decider(lambda: tracked.engine.hold(now_s, failure))

    def _senior_peer(self, tracked: Tracked) -> PeerDecision | None:
        """The other replica whose decision `tracked` answers with, if not this one's own."""
        if self.peers is None:
            return None
        # Before its first decision a replica ranks as if its own were valid: it follows
        # only replicas senior to it, never a junior's answer into its own hold.
        own = tracked.own or Decision(self.clock.now_s(), 0, "not decided yet")
        candidates = self._heard(tracked)
        candidates.append(as_peer_decision(own, self.peers.instance, tracked.tracked_since_s))
        chosen = senior(candidates)
        return chosen if chosen is not None and chosen.instance != self.peers.instance else None

    def _heard(self, tracked: Tracked) -> list[PeerDecision]:
        """Other replicas' decisions for `tracked` that they renewed lately: a peer still
        answering HTTP while its deciding is stuck must not hold the answer."""
        if self.peers is None:
            return []
        profile = tracked.engine.profile
        oldest_s = self.clock.now_s() - max(
            3 * profile.decision_interval_s, profile.staleness.hold_after_s
        )
        heard = self.peers.candidates(target_key(tracked.target))
        return [d for d in heard if d.t_s >= oldest_s]

    def _publish(self, tracked: Tracked) -> Decision | None:
        """Publishes what `tracked` answers now (its own decision or a senior replica's) when
        that differs from what it answers already, or is this replica's own fresh decision."""
        if self.peers is None:
            decision = tracked.own
        else:
            decision = agreed(
                tracked.own,
                self.peers.instance,
                tracked.tracked_since_s,
                self._heard(tracked),
            )
        if decision is None:
            return None
        previous = tracked.decision
        if decision is not tracked.own and decision == previous:
            return decision
        tracked.publish(decision)
        self._report(tracked, decision, previous)
        return decision

    def republish(self) -> None:
        """Peers' decisions changed: every tracked ScaledObject answers the agreed one."""
        for tracked in list(self._tracked.values()):
            self._publish(tracked)

    def own_report(self) -> PeerReport:
        """This replica's own decisions, for the other replicas (`GET /peers/decisions`)."""
        if self.peers is None:
            raise ValueError("no peers: this replica reports to nobody")
        return PeerReport(
            instance=self.peers.instance,
            decisions=[
                ReportedDecision(
                    target=target_key(t.target),
                    tracked_since_s=t.tracked_since_s,
                    t_s=t.own.t_s,
                    replicas=t.own.replicas,
                    valid=t.own.valid,
                    reason=t.own.reason[:4096],
                    forecast_replicas=t.own.forecast_replicas,
                    hold=list(t.engine.state.recent),
                )
                for t in self._tracked.values()
                if t.own is not None
            ],
        )

    async def _run(self, tracked: Tracked) -> None:
        if self.backfill:
            await self.backfill_history(tracked)
        interval_s = tracked.engine.profile.decision_interval_s
        await self.refresh_once(tracked)  # answer as soon as possible after a (re)start...
        # ...then settle at a fixed phase of the interval, spread by a hash of the target, so
        # a thousand ScaledObjects do not all refresh in the same instant every interval.
        phase = (zlib.crc32(tracked.target.scaled_object.encode()) % 1000) / 1000
        await self.clock.sleep(phase * interval_s)
        while self._running:
            if self.clock.now_s() - tracked.last_seen_s > self.idle_after_s:
                log.info(
                    "dropping %s: not asked about for %.0f s",
                    tracked.target.scaled_object,
                    self.idle_after_s,
                )
                self._tracked.pop(tracked.target, None)
                tracked.close()  # ends its StreamIsActive streams: a re-track is a new cell
                for forget in self.on_drop:
                    forget(tracked)
                return
            try:
                await self.refresh_once(tracked)
            except Exception:  # one model's bug must not stop the others
                log.exception("refresh failed for %s", tracked.target.scaled_object)
            await self.clock.sleep(interval_s)

    def _report(self, tracked: Tracked, decision: Decision, previous: Decision | None) -> None:
        for listener in self.listeners:
            listener(tracked, decision)
        changed = (
            previous is None
            or previous.replicas != decision.replicas
            or previous.valid != decision.valid
        )
        level = logging.INFO if changed else logging.DEBUG
        if not log.isEnabledFor(level):
            return  # most decisions repeat the last one: skip building their record
        log.log(
            level,
            "decision",
            extra={
                "scaled_object": tracked.target.scaled_object,
                "model": tracked.target.model,
                "replicas": decision.replicas,
                "valid": decision.valid,
                "forecast_replicas": decision.forecast_replicas,
                "reactive_replicas": decision.reactive_replicas,
                "data_age_s": round(decision.data_age_s, 1),
                "reason": decision.reason,
                "source_error": tracked.last_error,
            },
        )


def _decide_following(engine: ModelEngine, followed: PeerDecision | None, now_s: float) -> Decision:
    """On the decision thread: adopt a senior replica's answer first (so this engine's hold
    includes it), then decide this replica's own answer."""
    if followed is not None:
        engine.follow(followed.replicas, followed.hold)
    return engine.decide(now_s)


class PeerView(Protocol):
    """What the registry needs from the exchange of decisions between replicas."""

    @property
    def instance(self) -> str: ...

    def candidates(self, key: TargetKey) -> list[PeerDecision]: ...


def failure_text(exc: BaseException, max_chars: int = 200) -> str:
    """`Type: first line of the message`, short enough for a reason and a gRPC status."""
    lines = str(exc).strip().splitlines()
    message = lines[0][:max_chars] if lines else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
