"""Profiles reload from their files without a restart: validated whole, swapped atomically.

An operator edits a profile (or the ConfigMap behind it changes) and either calls
`POST /profiles/reload` or waits for the watcher to notice the file changed. The new set is
parsed and checked against every tracked ScaledObject first; one bad file or a removed
profile still in use rejects the whole reload, and the old profiles stay in force.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from autoscaler.clock import Clock
from autoscaler.file_watch import FileWatch, poll
from autoscaler.profile import ModelProfile, ProfileError
from autoscaler.scaler.metadata import MetadataError
from autoscaler.scaler.profile_book import ProfileBook
from autoscaler.scaler.registry import ScalerRegistry

log = logging.getLogger("prewarm.profiles")

ProfileLoader = Callable[[], Mapping[str, ModelProfile]]  # raises ProfileError
WatchedFiles = Callable[[], list[Path]]


@dataclass(frozen=True)
class ReloadResult:
    applied: bool
    profiles: tuple[str, ...]  # names in force after the call
    changed: tuple[str, ...] = ()  # names whose content differs from before
    errors: tuple[str, ...] = ()


class ProfileReloader:
    def __init__(
        self,
        registry: ScalerRegistry,
        load: ProfileLoader,
        files: WatchedFiles = list,
        clock: Clock | None = None,
    ) -> None:
        self.registry = registry
        self.load = load
        self.files = files
        self.clock: Clock = clock or registry.clock
        self._lock = asyncio.Lock()  # one reload at a time: the API and the watcher may race
        self._watch = FileWatch(files)
        self._watch.mark(self._watch.stamp())  # the profiles in force came from these files

    async def reload(self) -> ReloadResult:
        async with self._lock:
            before = dict(self.registry.profiles.profiles)
            stamp = self._watch.stamp()
            try:
                profiles = dict(await asyncio.to_thread(self.load))
                await self.registry.replace_profiles(ProfileBook(profiles))
            except ProfileError as exc:
                return self._rejected(str(exc).splitlines(), before)
            except MetadataError as exc:
                return self._rejected(exc.problems, before)
            except (OSError, UnicodeError, RecursionError) as exc:
                # The loader should have named the file (ProfileError); if one still lets a
                # bad file through, the reload is rejected, never a 500 with the old set lost.
                log.exception("profile loader failed on a file it should have rejected")
                return self._rejected([f"cannot load the profiles: {exc}"], before)
            finally:
                # Remember what was tried: the watcher retries only after the next edit.
                self._watch.mark(stamp)
            names = profiles.keys() | before.keys()
            changed = tuple(sorted(n for n in names if profiles.get(n) != before.get(n)))
            log.info("profiles reloaded", extra={"profiles": sorted(profiles), "changed": changed})
            return ReloadResult(True, tuple(sorted(profiles)), changed)

    async def check(self) -> ReloadResult | None:
        """Reloads if a watched file changed (inode, size, mtime) since the last try."""
        if not self._watch.changed():
            return None
        return await self.reload()

    async def watch(self, interval_s: float) -> None:
        await poll(self.clock, interval_s, self.check, log=log, what="profile")

    def _rejected(self, errors: list[str], before: Mapping[str, ModelProfile]) -> ReloadResult:
        log.warning("profile reload rejected; the old profiles stay", extra={"errors": errors})
        return ReloadResult(False, tuple(sorted(before)), errors=tuple(errors))
