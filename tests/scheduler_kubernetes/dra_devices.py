"""Evaluating claim templates against recorded ResourceSlices with a real CEL interpreter.

The DRA scheduler's view of a device, rebuilt from ResourceSlice JSON: `device.driver`,
`device.attributes['gpu.nvidia.com'].<name>` (attribute values unwrapped from their
{"string": ...} / {"version": ...} envelopes) and the DeviceClass filter on `type`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import celpy

RECORDED = Path(__file__).parent / "recorded"
DRIVER = "gpu.nvidia.com"
CLASS_TYPE = {"gpu.nvidia.com": "gpu", "mig.nvidia.com": "mig"}  # the DeviceClass selectors


def recorded(name: str) -> dict[str, Any]:
    return json.loads((RECORDED / name).read_text())


def devices() -> list[tuple[str, dict[str, Any]]]:
    """(pool/device name, CEL activation) for every device of our driver."""
    out = []
    for s in recorded("resourceslices.json")["items"]:
        spec = s["spec"]
        if spec["driver"] != DRIVER:
            continue
        for device in spec.get("devices") or []:
            attrs = {
                k.removeprefix(f"{DRIVER}/"): next(iter(v.values()))
                for k, v in device.get("attributes", {}).items()
            }
            out.append(
                (
                    f"{spec['pool']['name']}/{device['name']}",
                    {"device": {"driver": spec["driver"], "attributes": {DRIVER: attrs}}},
                )
            )
    return out


def matches(device_fields: dict[str, Any]) -> set[str]:
    """Devices one `exactly` request (or one firstAvailable subrequest) can be given."""
    env = celpy.Environment()
    programs = [
        env.program(env.compile(s["cel"]["expression"])) for s in device_fields.get("selectors", [])
    ]
    wanted_type = CLASS_TYPE[device_fields["deviceClassName"]]
    found = set()
    for name, activation in devices():
        if activation["device"]["attributes"][DRIVER].get("type") != wanted_type:
            continue
        cel = celpy.json_to_cel(activation)
        if all(bool(p.evaluate(cel)) for p in programs):  # type: ignore[arg-type]
            found.add(name)
    return found
