import json
import logging

from autoscaler.logs import JsonFormatter


def _line(**extra: object) -> dict[str, object]:
    record = logging.makeLogRecord({"msg": "decided", "levelname": "INFO", "name": "t", **extra})
    return json.loads(JsonFormatter().format(record), parse_constant=_reject)


def _reject(name: str) -> None:
    raise AssertionError(f"{name} is not JSON")


def test_extra_fields_are_kept() -> None:
    line = _line(model="demo", replicas=3)
    assert (line["msg"], line["model"], line["replicas"]) == ("decided", "demo", 3)


def test_an_infinite_age_is_null_so_strict_parsers_read_the_line() -> None:
    line = _line(data_age_s=float("inf"), forecast=float("nan"), replicas=2.5)
    assert line["data_age_s"] is None and line["forecast"] is None and line["replicas"] == 2.5
