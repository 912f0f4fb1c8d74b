"""Named profiles, and which one a ScaledObject gets (`profile_choice.py` says which)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from autoscaler.profile import ModelProfile
from autoscaler.scaler.metadata import ScalerTarget
from autoscaler.scaler.profile_choice import ProfileChoice


@dataclass(frozen=True)
class ProfileBook:
    profiles: Mapping[str, ModelProfile] = field(default_factory=dict)

    @cached_property
    def choice(self) -> ProfileChoice:
        return ProfileChoice({name: p.model for name, p in self.profiles.items()})

    def resolve(self, target: ScalerTarget) -> ModelProfile:
        """Raises MetadataError when no profile fits."""
        profile = self.profiles[self.choice.choose(target)]
        if target.profile is None and profile.model != target.model:
            # The default profile, adopted by a model that has none of its own.
            return profile.model_copy(update={"model": target.model})
        return profile
