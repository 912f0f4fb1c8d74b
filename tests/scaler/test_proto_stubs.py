"""The committed stubs must match externalscaler.proto (run `make proto` after editing it)."""

from __future__ import annotations

import re

from google.protobuf.descriptor import FieldDescriptor

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


def test_fields_match_kedas_wire_format() -> None:
    # KEDA 2.21's messages: (number, protobuf type) of every field.
    expected = {
        "ScaledObjectRef": {"name": (1, "string"), "namespace": (2, "string"),
                            "scalerMetadata": (3, "message")},
        "MetricSpec": {"metricName": (1, "string"), "targetSize": (2, "int64"),
                       "targetSizeFloat": (3, "double")},
        "GetMetricsRequest": {"scaledObjectRef": (1, "message"), "metricName": (2, "string")},
        "MetricValue": {"metricName": (1, "string"), "metricValue": (2, "int64"),
                        "metricValueFloat": (3, "double")},
        "IsActiveResponse": {"result": (1, "bool")},
        "GetMetricSpecResponse": {"metricSpecs": (1, "message")},
        "GetMetricsResponse": {"metricValues": (1, "message")},
    }  # fmt: skip
    type_names = {
        FieldDescriptor.TYPE_STRING: "string",
        FieldDescriptor.TYPE_MESSAGE: "message",
        FieldDescriptor.TYPE_INT64: "int64",
        FieldDescriptor.TYPE_DOUBLE: "double",
        FieldDescriptor.TYPE_BOOL: "bool",
    }
    assert set(pb.DESCRIPTOR.message_types_by_name) == set(expected)
    for message, fields in expected.items():
        descriptor = pb.DESCRIPTOR.message_types_by_name[message]
        found = {f.name: (f.number, type_names.get(f.type, str(f.type))) for f in descriptor.fields}
        assert found == fields, message
    service = pb.DESCRIPTOR.services_by_name["ExternalScaler"]
    assert service.full_name == "externalscaler.ExternalScaler"
    # KEDA 2.21's service: (request, response, server streaming) for each method.
    assert {
        m.name: (m.input_type.name, m.output_type.name, m.server_streaming, m.client_streaming)
        for m in service.methods
    } == {
        "IsActive": ("ScaledObjectRef", "IsActiveResponse", False, False),
        "StreamIsActive": ("ScaledObjectRef", "IsActiveResponse", True, False),
        "GetMetricSpec": ("ScaledObjectRef", "GetMetricSpecResponse", False, False),
        "GetMetrics": ("GetMetricsRequest", "GetMetricsResponse", False, False),
        "StreamMetricSpec": ("ScaledObjectRef", "GetMetricSpecResponse", True, False),
    }
