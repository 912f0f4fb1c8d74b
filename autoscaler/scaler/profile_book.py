"""Named profiles, and which one a ScaledObject gets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from autoscaler.profile import ModelProfile
from autoscaler.scaler.metadata import MetadataError, ScalerTarget

DEFAULT = "default"


@dataclass(frozen=True)
class ProfileBook:
    """Profiles by name. A target gets the profile it names, else the one whose `model`
    matches its model, else the one named `default`."""

    profiles: Mapping[str, ModelProfile] = field(default_factory=dict)

    def resolve(self, target: ScalerTarget) -> ModelProfile:
        if target.profile is not None:
            try:
                return self.profiles[target.profile]
            except KeyError:
                known = ", ".join(sorted(self.profiles)) or "none"
                raise MetadataError(
                    [f"key 'profile': no profile named {target.profile!r} (known: {known})"]
                ) from None
        for profile in self.profiles.values():
            if profile.model == target.model:
                return profile
        if DEFAULT in self.profiles:
            return self.profiles[DEFAULT].model_copy(update={"model": target.model})
        raise MetadataError(
            [f"key 'profile' is needed: no profile for model {target.model!r} and no default"]
        )
