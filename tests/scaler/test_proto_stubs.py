"""The committed stubs must match externalscaler.proto (run `make proto` after editing it)."""

from __future__ import annotations

import re

from external_scaler_proto import externalscaler_pb2 as pb
from external_scaler_proto.generate import HERE, stale_files, without_version_stamps


def test_committed_stubs_are_fresh() -> None:
    assert stale_files() == [], "stubs are stale: run `make proto` and commit the result"


def test_a_generator_patch_release_is_not_staleness_but_a_proto_change_is() -> None:
    committed = (HERE / "externalscaler_pb2.py").read_text()
    grpc_committed = (HERE / "externalscaler_pb2_grpc.py").read_text()
    restamped = re.sub(
        r"Protobuf Python Version: [\d.]+", "Protobuf Python Version: 9.99.9", committed
    )
    restamped = re.sub(r"PUBLIC,\n(\s*)\d+,", r"PUBLIC,\n\g<1>99,", restamped)
    grpc_restamped = re.sub(
        r"GRPC_GENERATED_VERSION = '[^']*'", "GRPC_GENERATED_VERSION = '9.9.9'", grpc_committed
    )
    assert restamped != committed and grpc_restamped != grpc_committed
    assert without_version_stamps(restamped) == without_version_stamps(committed)
    assert without_version_stamps(grpc_restamped) == without_version_stamps(grpc_committed)
    renamed = committed.replace("targetSizeFloat", "targetSizeDouble")
    assert without_version_stamps(renamed) != without_version_stamps(committed)


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
