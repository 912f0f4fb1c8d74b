"""Which named profile a ScaledObject gets, from the profiles' names and models alone.

A target gets the profile it names, else the one whose `model` matches its model, else the
one named `default`. Kept apart from the profiles themselves so the gRPC front process can
answer INVALID_ARGUMENT for a bad `profile` key without loading any (or numpy, pydantic).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from autoscaler.scaler.error_text import listed, quoted
from autoscaler.scaler.metadata import MetadataError, ScalerTarget

DEFAULT = "default"


@dataclass(frozen=True)
class ProfileChoice:
    models: Mapping[str, str] = field(default_factory=dict)  # profile name -> its model

    def choose(self, target: ScalerTarget) -> str:
        """The profile's name; MetadataError naming the `profile` key when none fits."""
        if target.profile is not None:
            if target.profile in self.models:
                return target.profile
            known = ", ".join(listed([quoted(n) for n in sorted(self.models)])) or "none"
            raise MetadataError(
                [f"key 'profile': no profile named {quoted(target.profile)} (known: {known})"]
            )
        for name, model in self.models.items():
            if model == target.model:
                return name
        if DEFAULT in self.models:
            return DEFAULT
        raise MetadataError(
            [f"key 'profile' is needed: no profile for model {quoted(target.model)} and no default"]
        )
