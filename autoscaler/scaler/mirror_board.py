"""The gRPC front process's copy of the decisions, kept current by the scaler process.

The front answers KEDA from these cells. It resolves profiles and checks `prometheusAddress`
against the allowed ones itself, so a bad `profile` or address is INVALID_ARGUMENT at once,
exactly as the registry would say it, and it tells the
back which ScaledObjects KEDA asks about: at first sight at once (their refreshers start),
then in batches (so the back does not drop them as idle). A target the back drops or
rejects, or that a profile reload leaves without a profile, is forgotten here too, so the
next call is checked afresh. Past `max_scaled_objects` it refuses a new target itself
(RESOURCE_EXHAUSTED) and tells the back how many it refused.
"""

from __future__ import annotations

from collections.abc import Callable

from autoscaler.scaler.decision_cell import DecisionCell
from autoscaler.scaler.front_messages import Dropped, Profiles, Published, Refused, Seen
from autoscaler.scaler.metadata import MetadataError, ScalerTarget
from autoscaler.scaler.profile_choice import ProfileChoice
from autoscaler.scaler.prometheus_addresses import NO_OVERRIDES, PrometheusAddresses
from autoscaler.scaler.tracking_limit import DEFAULT_MAX_SCALED_OBJECTS, TooManyScaledObjects

BackMessage = Published | Dropped | Profiles


class MirrorBoard:
    def __init__(
        self,
        profiles: ProfileChoice,
        tell_back: Callable[[Seen | Refused], None],
        prometheus_addresses: PrometheusAddresses = NO_OVERRIDES,
        max_scaled_objects: int = DEFAULT_MAX_SCALED_OBJECTS,
    ) -> None:
        self.profiles = profiles
        self.tell_back = tell_back
        self.prometheus_addresses = prometheus_addresses
        self._cells: dict[ScalerTarget, DecisionCell] = {}
        self._seen_since_report: set[ScalerTarget] = set()
        # A new target past this many is refused here, before the back hears of it.
        self.max_scaled_objects = max_scaled_objects
        self._refused_unreported = 0
        self._refusal_told = False  # since the last report

    def __len__(self) -> int:
        return len(self._cells)

    def track(self, target: ScalerTarget) -> DecisionCell:
        cell = self._cells.get(target)
        if cell is None:
            self.prometheus_addresses.check(target.prometheus_url)  # MetadataError naming the key
            self.profiles.choose(target)  # likewise
            if len(self._cells) >= self.max_scaled_objects:
                self._refused()
                raise TooManyScaledObjects(self.max_scaled_objects, target.scaled_object)
            cell = self._cells[target] = DecisionCell(target)
            self.tell_back(Seen((target,)))
        else:
            self._seen_since_report.add(target)
        return cell

    def _fits(self, target: ScalerTarget) -> bool:
        try:
            self.profiles.choose(target)
        except MetadataError:
            return False
        return True

    def _forget(self, target: ScalerTarget) -> None:
        cell = self._cells.pop(target, None)
        if cell is not None:
            cell.close()  # its streams end; KEDA's next one finds the target afresh
        self._seen_since_report.discard(target)

    def _refused(self) -> None:
        """Counts a refusal for the back's metrics: the first since the last report at once,
        the rest with the next report, so a flood of new names is not a flood of messages."""
        self._refused_unreported += 1
        if not self._refusal_told:
            self._tell_refused()
            self._refusal_told = True

    def _tell_refused(self) -> None:
        self.tell_back(Refused(self._refused_unreported))
        self._refused_unreported = 0

    def report_seen(self) -> None:
        """Tells the back what KEDA asked about since the last report, and how many new
        ScaledObjects were refused."""
        if self._seen_since_report:
            self.tell_back(Seen(tuple(self._seen_since_report)))
            self._seen_since_report.clear()
        if self._refused_unreported:
            self._tell_refused()
        self._refusal_told = False

    def receive(self, message: BackMessage) -> None:
        if isinstance(message, Published):
            cell = self._cells.get(message.target)
            if cell is None:
                # A target the front has not seen (tracked before it started) is mirrored
                # too, unless the profiles in force reject it: KEDA must get INVALID_ARGUMENT
                # for it, not a decision made under profiles a reload has replaced.
                if not self._fits(message.target):
                    return
                cell = self._cells[message.target] = DecisionCell(message.target)
            cell.last_error = message.last_error
            cell.publish(message.decision)
        elif isinstance(message, Dropped):
            self._forget(message.target)
        elif isinstance(message, Profiles):
            self.profiles = message.choice
            for target in [t for t in self._cells if not self._fits(t)]:
                self._forget(target)  # KEDA's next call gets INVALID_ARGUMENT
        else:
            raise TypeError(f"unexpected message from the scaler process: {message!r}")
