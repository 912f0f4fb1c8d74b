"""The committed stubs must match externalscaler.proto (run `make proto` after editing it)."""

from __future__ import annotations

from external_scaler_proto import externalscaler_pb2 as pb
from external_scaler_proto.generate import stale_files


def test_committed_stubs_are_fresh() -> None:
    assert stale_files() == [], "stubs are stale: run `make proto` and commit the result"


def test_field_numbers_match_kedas_wire_format() -> None:
    expected = {
        "ScaledObjectRef": {"name": 1, "namespace": 2, "scalerMetadata": 3},
        "MetricSpec": {"metricName": 1, "targetSize": 2, "targetSizeFloat": 3},
        "GetMetricsRequest": {"scaledObjectRef": 1, "metricName": 2},
        "MetricValue": {"metricName": 1, "metricValue": 2, "metricValueFloat": 3},
        "IsActiveResponse": {"result": 1},
        "GetMetricSpecResponse": {"metricSpecs": 1},
        "GetMetricsResponse": {"metricValues": 1},
    }
    for message, fields in expected.items():
        descriptor = pb.DESCRIPTOR.message_types_by_name[message]
        assert {f.name: f.number for f in descriptor.fields} == fields, message
    service = pb.DESCRIPTOR.services_by_name["ExternalScaler"]
    assert service.full_name == "externalscaler.ExternalScaler"
    assert {m.name for m in service.methods} == {
        "IsActive",
        "StreamIsActive",
        "GetMetricSpec",
        "GetMetrics",
    }
