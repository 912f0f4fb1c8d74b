"""How long a trace may span, and the idle gaps that are shortened instead of replayed.

The simulator and the emulator replay a tick per second whatever the number of requests
(`OfferedLoad`): ~40 MB and ~4 s of CPU per simulated day for the four default policies. A
two-row trace ten years apart asked for 24 GB. Two remedies, in this order:

1. An idle gap longer than MAX_IDLE_GAP_S (a week: a long weekend or a holiday week is a
   traffic pattern worth replaying, a longer silence is a break in collection) is shortened
   by whole days to between one and two days. The time of day is kept, so daily seasons stay
   in phase; the weekday is not. Worked number: rows at day 0 and day 3,650.25 (10 years
   later) become rows 1.25 days apart. `RequestTrace.meta` says how much was cut.
2. What is still longer than MAX_REPLAY_SPAN_S is refused, naming the file and the limit.

Timestamps are bounded too (MAX_TIME_S): a float of 1e300 s has no second-level resolution
left, and one past ~9e18 ms does not fit the integer arithmetic at all.
"""

from __future__ import annotations

import numpy as np

from simulations.traces.request_trace import RequestTrace, TraceFormatError

DAY_S = 86400.0
MAX_IDLE_GAP_S = 7 * DAY_S
# Four times the longest trace the project replays (the Azure 2024 week): ~1.3 GB and
# ~2 minutes for the default policies.
MAX_REPLAY_SPAN_S = 31 * DAY_S
# ~3,170 years of seconds: a float keeps ~15 us at this size, and every real trace's
# timestamps (relative seconds or POSIX time) are far below it.
MAX_TIME_S = 1e11


def trim_idle_gaps(trace: RequestTrace) -> RequestTrace:
    """The trace with every idle gap over MAX_IDLE_GAP_S shortened to one to two days (see
    the module docstring); the same trace when there is none."""
    arrival = trace.arrival_s
    if arrival.size < 2:
        return trace
    cut = idle_cut_s(np.diff(arrival))
    if not cut.any():
        return trace
    shifted = arrival - np.concatenate([[0.0], np.cumsum(cut)])
    meta = {
        **trace.meta,
        "idle_gaps_shortened": int(np.count_nonzero(cut)),
        "idle_days_cut": round(float(cut.sum()) / DAY_S, 3),
    }
    return RequestTrace(
        trace.name, shifted, trace.prompt_tokens, trace.output_tokens, trace.source, meta
    )


def idle_cut_s(pauses_s: np.ndarray) -> np.ndarray:
    """Seconds to cut from each pause: whole days leaving one to two days of each pause over
    MAX_IDLE_GAP_S, 0 from the others. Worked number: 10.5 days -> 9 cut, 1.5 kept."""
    pauses = np.asarray(pauses_s, dtype=np.float64)
    # fmod is exact, so the remainder is right even for a pause too long to count days in.
    kept = DAY_S + np.fmod(pauses, DAY_S)
    return np.where(pauses > MAX_IDLE_GAP_S, pauses - kept, 0.0)


def idle_note(pauses: int, cut_s: float) -> str:
    """The sentence that tells a user what `idle_cut_s` cut; "" when nothing was."""
    if not pauses:
        return ""
    return (
        f"{pauses} idle gap(s) of over {MAX_IDLE_GAP_S / DAY_S:g} days shortened to 1-2 days "
        f"each, time of day kept ({cut_s / DAY_S:,.1f} days cut)"
    )


def trimmed_note(trace: RequestTrace) -> str:
    """What `trim_idle_gaps` did, for the user; "" when it did nothing."""
    gaps = int(trace.meta.get("idle_gaps_shortened", 0))
    return idle_note(gaps, float(trace.meta.get("idle_days_cut", 0.0)) * DAY_S)


def check_replay_span(trace: RequestTrace) -> None:
    """TraceFormatError naming the trace's file when a replay of it would exceed
    MAX_REPLAY_SPAN_S; checked before anything is allocated per second."""
    if trace.duration_s > MAX_REPLAY_SPAN_S:
        after = " after its idle gaps were shortened" if trimmed_note(trace) else ""
        raise TraceFormatError(
            trace.source,
            None,
            f"the trace spans {trace.duration_s / DAY_S:,.1f} days{after}; a replay covers at "
            f"most {MAX_REPLAY_SPAN_S / DAY_S:g} days (MAX_REPLAY_SPAN_S: one tick per second, "
            "~40 MB a day): split the file",
        )
