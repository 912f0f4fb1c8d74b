"""Pods as the API server hands them to a mutating webhook, and AdmissionReviews around them."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from scheduler.kubernetes.dns_names import label_value

VLLM_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "generateName": "vllm-llama-3-1-8b-6d5f7c9b8-",
        "namespace": "llm",
        "labels": {"app.kubernetes.io/name": "vllm", "pod-template-hash": "6d5f7c9b8"},
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "vllm-llama-3-1-8b-6d5f7c9b8",
                "uid": "0b4c2f9e-5a51-4d6e-9b0c-3f1a2e4d5c6b",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    },
    "spec": {
        "containers": [
            {
                "name": "vllm",
                "image": "vllm/vllm-openai:v0.12.0",
                "args": ["--model=meta-llama/Llama-3.1-8B", "--port=8000"],
                "ports": [{"name": "http", "containerPort": 8000, "protocol": "TCP"}],
                "resources": {
                    "requests": {"cpu": "2", "memory": "24Gi"},
                    "limits": {"memory": "32Gi"},
                },
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent",
            }
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 120,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default",
        "schedulerName": "default-scheduler",
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "priority": 0,
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
    },
}


def pod(
    model: str | None = None,
    *,
    opted_in: bool = True,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    out = copy.deepcopy(VLLM_POD)
    meta = out["metadata"]
    if opted_in:
        meta["labels"]["prewarm.dev/placement"] = "enabled"
    if model is not None:
        meta["labels"]["prewarm.dev/model"] = label_value(model)
    meta["labels"].update(labels or {})
    if annotations is not None:
        meta["annotations"] = annotations
    return out


def review(obj: dict[str, Any], *, kind: str = "Pod", operation: str = "CREATE") -> dict[str, Any]:
    """An AdmissionReview request as kube-apiserver sends it (admission.k8s.io/v1)."""
    resource = "pods" if kind == "Pod" else kind.lower() + "s"
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": resource},
            "requestKind": {"group": "", "version": "v1", "kind": kind},
            "requestResource": {"group": "", "version": "v1", "resource": resource},
            "namespace": obj.get("metadata", {}).get("namespace", "llm"),
            "operation": operation,
            "userInfo": {
                "username": "system:serviceaccount:kube-system:replicaset-controller",
                "uid": "5f1a9c1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b",
                "groups": [
                    "system:serviceaccounts",
                    "system:serviceaccounts:kube-system",
                    "system:authenticated",
                ],
            },
            "object": obj,
            "oldObject": None,
            "dryRun": False,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
        },
    }
