"""Small structural schemas for the custom resources in deploy/ (no cluster, no download).

The Kubernetes JSON schemas bundled with `kubernetes-validate` cover built-in kinds only. For
the CRDs the manifests use, these JSON Schemas list the fields each project defines, with
unknown fields rejected, required fields and enums, as read from the CRDs themselves:

- KEDA `keda.sh/v1alpha1` ScaledObject and TriggerAuthentication
  (kedacore/keda config/crd/bases, main after v2.20; fallback.behavior since 2.17)
- Prometheus Operator `monitoring.coreos.com/v1` ServiceMonitor and PodMonitor
  (prometheus-operator example/prometheus-operator-crd)
- cert-manager `cert-manager.io/v1` Certificate and ClusterIssuer (cert-manager deploy/crds)
- LeaderWorkerSet `leaderworkerset.x-k8s.io/v1` (kubernetes-sigs/lws config/crd/bases)
- KubeRay `ray.io/v1` RayJob (ray-project/kuberay ray-operator/config/crd/bases, v1.4/1.5)

Where a CRD embeds a Kubernetes type (a pod template, an HPA behavior), the field is only
required to be an object here; tests/deploy validates it with the real Kubernetes schema.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

STR: Schema = {"type": "string"}
NONEMPTY: Schema = {"type": "string", "minLength": 1}
BOOL: Schema = {"type": "boolean"}
INT: Schema = {"type": "integer"}
NONNEG: Schema = {"type": "integer", "minimum": 0}
OBJECT: Schema = {"type": "object"}  # embedded Kubernetes type: checked elsewhere
ARRAY: Schema = {"type": "array"}
STR_MAP: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
INT_OR_STR: Schema = {"type": ["integer", "string"]}
# Prometheus Operator's duration pattern (`30s`, `1m30s`).
PROM_DURATION: Schema = {
    "type": "string",
    "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?"
    r"(([0-9]+)s)?(([0-9]+)ms)?)$",
}
# Go time.ParseDuration, as cert-manager reads `duration` / `renewBefore`.
GO_DURATION: Schema = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$"}
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


def obj(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    """An object with exactly these fields (unknown ones rejected)."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def enum(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)}


def array_of(items: Schema, min_items: int = 0) -> Schema:
    return {"type": "array", "items": items, "minItems": min_items}


def names(*fields: str) -> dict[str, Schema]:
    """Fields whose shape this checker leaves open (only their names are checked)."""
    return {field: {} for field in fields}


METADATA = obj(
    {
        "name": {"type": "string", "pattern": DNS_SUBDOMAIN, "maxLength": 253},
        "namespace": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63},
        "labels": STR_MAP,
        "annotations": STR_MAP,
    },
    required=("name",),
)


def resource(spec: Schema, api_version: str, kind: str, namespaced: bool = True) -> Schema:
    schema = obj(
        {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": METADATA,
            "spec": spec,
        },
        required=("apiVersion", "kind", "metadata", "spec"),
    )
    if not namespaced:
        schema["properties"]["metadata"] = {
            **METADATA,
            "properties": {k: v for k, v in METADATA["properties"].items() if k != "namespace"},
        }
    return schema


LABEL_SELECTOR = obj(
    {
        "matchLabels": STR_MAP,
        "matchExpressions": array_of(
            obj(
                {"key": STR, "operator": STR, "values": array_of(STR)},
                required=("key", "operator"),
            )
        ),
    }
)

# --- KEDA -----------------------------------------------------------------------------------
SCALED_OBJECT = resource(
    obj(
        {
            "scaleTargetRef": obj(
                {
                    "apiVersion": STR,
                    "kind": STR,
                    "name": NONEMPTY,
                    "envSourceContainerName": STR,
                },
                required=("name",),
            ),
            "pollingInterval": {"type": "integer", "minimum": 1},
            "cooldownPeriod": NONNEG,
            "initialCooldownPeriod": NONNEG,
            "idleReplicaCount": NONNEG,
            "minReplicaCount": NONNEG,
            "maxReplicaCount": NONNEG,
            "fallback": obj(
                {
                    "failureThreshold": NONNEG,
                    "replicas": NONNEG,
                    "behavior": enum(
                        "static",
                        "currentReplicas",
                        "currentReplicasIfHigher",
                        "currentReplicasIfLower",
                        "scalingModifiers",
                    ),
                },
                required=("failureThreshold", "replicas"),
            ),
            "advanced": obj(
                {
                    "restoreToOriginalReplicaCount": BOOL,
                    "horizontalPodAutoscalerConfig": obj({"name": STR, "behavior": OBJECT}),
                    "scalingModifiers": obj(
                        {
                            "formula": STR,
                            "target": STR,
                            "activationTarget": STR,
                            "metricType": enum("AverageValue", "Value"),
                        }
                    ),
                }
            ),
            "triggers": array_of(
                obj(
                    {
                        "type": NONEMPTY,
                        "name": STR,
                        "metricType": enum("AverageValue", "Value", "Utilization"),
                        "useCachedMetrics": BOOL,
                        # KEDA's CRD: map[string]string. A bare `true` or `9090` would be
                        # rejected by the API server.
                        "metadata": STR_MAP,
                        "authenticationRef": obj(
                            {
                                "name": NONEMPTY,
                                "kind": enum(
                                    "TriggerAuthentication", "ClusterTriggerAuthentication"
                                ),
                            },
                            required=("name",),
                        ),
                    },
                    required=("type", "metadata"),
                ),
                min_items=1,
            ),
        },
        required=("scaleTargetRef", "triggers"),
    ),
    "keda.sh/v1alpha1",
    "ScaledObject",
)

_TARGET_REF = obj(
    {"parameter": NONEMPTY, "name": NONEMPTY, "key": NONEMPTY},
    required=("parameter", "name", "key"),
)
TRIGGER_AUTHENTICATION = resource(
    obj(
        {
            "secretTargetRef": array_of(_TARGET_REF),
            "configMapTargetRef": array_of(_TARGET_REF),
            "env": array_of(
                obj(
                    {"parameter": NONEMPTY, "name": NONEMPTY, "containerName": STR},
                    required=("parameter", "name"),
                )
            ),
            **names(
                "podIdentity",
                "hashiCorpVault",
                "azureKeyVault",
                "awsSecretManager",
                "gcpSecretManager",
                "boundServiceAccountToken",
                "oauth2",
                "filePath",
            ),
        }
    ),
    "keda.sh/v1alpha1",
    "TriggerAuthentication",
)

# --- Prometheus Operator --------------------------------------------------------------------
_RELABEL = obj(
    {
        "action": STR,
        "modulus": INT,
        "regex": STR,
        "replacement": STR,
        "separator": STR,
        "sourceLabels": array_of(STR),
        "targetLabel": STR,
    }
)
_SCRAPE_ENDPOINT_FIELDS: dict[str, Schema] = {
    "port": STR,
    "targetPort": INT_OR_STR,
    "path": {"type": "string", "pattern": "^/"},
    "scheme": enum("http", "https", "HTTP", "HTTPS"),
    "interval": PROM_DURATION,
    "scrapeTimeout": PROM_DURATION,
    "honorLabels": BOOL,
    "honorTimestamps": BOOL,
    "trackTimestampsStaleness": BOOL,
    "relabelings": array_of(_RELABEL),
    "metricRelabelings": array_of(_RELABEL),
    "params": OBJECT,
    **names(
        "authorization",
        "basicAuth",
        "bearerTokenSecret",
        "enableHttp2",
        "filterRunning",
        "followRedirects",
        "noProxy",
        "oauth2",
        "proxyConnectHeader",
        "proxyFromEnvironment",
        "proxyUrl",
        "tlsConfig",
    ),
}
_MONITOR_COMMON: dict[str, Schema] = {
    "selector": LABEL_SELECTOR,
    "namespaceSelector": obj({"any": BOOL, "matchNames": array_of(STR)}),
    "jobLabel": STR,
    "podTargetLabels": array_of(STR),
    "sampleLimit": NONNEG,
    "targetLimit": NONNEG,
    "scrapeClass": STR,
    **names(
        "attachMetadata",
        "bodySizeLimit",
        "convertClassicHistogramsToNHCB",
        "fallbackScrapeProtocol",
        "keepDroppedTargets",
        "labelLimit",
        "labelNameLengthLimit",
        "labelValueLengthLimit",
        "nativeHistogramBucketLimit",
        "nativeHistogramMinBucketFactor",
        "scrapeClassicHistograms",
        "scrapeNativeHistograms",
        "scrapeProtocols",
        "selectorMechanism",
    ),
}
SERVICE_MONITOR = resource(
    obj(
        {
            **_MONITOR_COMMON,
            "endpoints": array_of(
                obj({**_SCRAPE_ENDPOINT_FIELDS, "bearerTokenFile": STR}), min_items=1
            ),
            "targetLabels": array_of(STR),
            "serviceDiscoveryRole": enum("Endpoints", "EndpointSlice"),
        },
        required=("selector", "endpoints"),
    ),
    "monitoring.coreos.com/v1",
    "ServiceMonitor",
)
POD_MONITOR = resource(
    obj(
        {
            **_MONITOR_COMMON,
            "podMetricsEndpoints": array_of(
                obj({**_SCRAPE_ENDPOINT_FIELDS, "portNumber": INT}), min_items=1
            ),
        },
        required=("selector",),
    ),
    "monitoring.coreos.com/v1",
    "PodMonitor",
)

# --- cert-manager ---------------------------------------------------------------------------
KEY_USAGES = (
    "signing",
    "digital signature",
    "content commitment",
    "key encipherment",
    "key agreement",
    "data encipherment",
    "cert sign",
    "crl sign",
    "encipher only",
    "decipher only",
    "any",
    "server auth",
    "client auth",
    "code signing",
    "email protection",
    "s/mime",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "timestamping",
    "ocsp signing",
    "microsoft sgc",
    "netscape sgc",
)
CERTIFICATE = resource(
    obj(
        {
            "secretName": {"type": "string", "pattern": DNS_SUBDOMAIN},
            "issuerRef": obj({"name": NONEMPTY, "kind": STR, "group": STR}, required=("name",)),
            "commonName": {"type": "string", "maxLength": 64},
            "dnsNames": array_of({"type": "string", "pattern": DNS_SUBDOMAIN}),
            "ipAddresses": array_of(STR),
            "uris": array_of(STR),
            "emailAddresses": array_of(STR),
            "isCA": BOOL,
            "duration": GO_DURATION,
            "renewBefore": GO_DURATION,
            "renewBeforePercentage": INT,
            "usages": array_of(enum(*KEY_USAGES)),
            "privateKey": obj(
                {
                    "algorithm": enum("RSA", "ECDSA", "Ed25519"),
                    "encoding": enum("PKCS1", "PKCS8"),
                    "rotationPolicy": enum("Never", "Always"),
                    "size": INT,
                }
            ),
            "revisionHistoryLimit": INT,
            "secretTemplate": obj({"annotations": STR_MAP, "labels": STR_MAP}),
            **names(
                "additionalOutputFormats",
                "encodeUsagesInRequest",
                "keystores",
                "literalSubject",
                "nameConstraints",
                "otherNames",
                "renewal",
                "signatureAlgorithm",
                "subject",
            ),
        },
        required=("secretName", "issuerRef"),
    ),
    "cert-manager.io/v1",
    "Certificate",
)
_ISSUER_SPEC = {
    **obj(
        {
            "ca": obj(
                {
                    "secretName": NONEMPTY,
                    "crlDistributionPoints": array_of(STR),
                    "issuingCertificateURLs": array_of(STR),
                    "ocspServers": array_of(STR),
                },
                required=("secretName",),
            ),
            "selfSigned": obj({"crlDistributionPoints": array_of(STR)}),
            **names("acme", "vault", "venafi"),
        }
    ),
    "minProperties": 1,
    "maxProperties": 1,  # exactly one issuer type
}
CLUSTER_ISSUER = resource(_ISSUER_SPEC, "cert-manager.io/v1", "ClusterIssuer", namespaced=False)

# --- LeaderWorkerSet ------------------------------------------------------------------------
LEADER_WORKER_SET = resource(
    obj(
        {
            "replicas": NONNEG,
            "startupPolicy": enum("LeaderCreated", "LeaderReady"),
            "leaderWorkerTemplate": obj(
                {
                    "size": {"type": "integer", "minimum": 1},
                    "restartPolicy": enum(
                        "Default", "RecreateGroupOnPodRestart", "RecreateGroupAfterStart", "None"
                    ),
                    "leaderTemplate": OBJECT,  # a PodTemplateSpec
                    "workerTemplate": OBJECT,  # a PodTemplateSpec
                    "subGroupPolicy": obj(
                        {
                            "subGroupPolicyType": enum("LeaderWorker", "LeaderExcluded"),
                            "subGroupSize": INT,
                        }
                    ),
                    "volumeClaimTemplates": ARRAY,
                    "persistentVolumeClaimRetentionPolicy": obj(
                        {"whenDeleted": STR, "whenScaled": STR}
                    ),
                },
                required=("workerTemplate",),
            ),
            "rolloutStrategy": obj(
                {
                    "type": enum("RollingUpdate"),
                    "rollingUpdateConfiguration": obj(
                        {"maxSurge": INT_OR_STR, "maxUnavailable": INT_OR_STR, "partition": INT}
                    ),
                },
                required=("type",),
            ),
            "networkConfig": obj(
                {"subdomainPolicy": enum("Shared", "UniquePerReplica")},
                required=("subdomainPolicy",),
            ),
        },
        required=("leaderWorkerTemplate",),
    ),
    "leaderworkerset.x-k8s.io/v1",
    "LeaderWorkerSet",
)

# --- KubeRay ----------------------------------------------------------------------------------
RAY_START_PARAMS = STR_MAP  # `ray start` flags, every value a string
RAY_HEAD_GROUP = obj(
    {
        "rayStartParams": RAY_START_PARAMS,
        "template": OBJECT,
        "serviceType": enum("ClusterIP", "NodePort", "LoadBalancer"),
        "headService": OBJECT,
        "enableIngress": BOOL,
        "suspend": BOOL,
    },
    required=("template",),
)
RAY_WORKER_GROUP = obj(
    {
        "groupName": NONEMPTY,
        "replicas": NONNEG,
        "minReplicas": NONNEG,
        "maxReplicas": NONNEG,
        "idleTimeoutSeconds": NONNEG,
        "numOfHosts": {"type": "integer", "minimum": 1},
        "rayStartParams": RAY_START_PARAMS,
        "template": OBJECT,
        "scaleStrategy": obj({"workersToDelete": array_of(STR)}),
        "suspend": BOOL,
    },
    required=("groupName", "template"),
)
RAY_CLUSTER_SPEC = obj(
    {
        "rayVersion": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
        "enableInTreeAutoscaling": BOOL,
        "autoscalerOptions": OBJECT,
        "headServiceAnnotations": STR_MAP,
        "gcsFaultToleranceOptions": OBJECT,
        "headGroupSpec": RAY_HEAD_GROUP,
        "workerGroupSpecs": array_of(RAY_WORKER_GROUP),
        "managedBy": STR,
        "suspend": BOOL,
    },
    required=("headGroupSpec",),
)
RAY_JOB = resource(
    obj(
        {
            "entrypoint": NONEMPTY,
            "runtimeEnvYAML": STR,
            "jobId": STR,
            "metadata": STR_MAP,
            "rayClusterSpec": RAY_CLUSTER_SPEC,
            "clusterSelector": STR_MAP,
            "submissionMode": enum("K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"),
            "submitterPodTemplate": OBJECT,
            "submitterConfig": obj({"backoffLimit": NONNEG}),
            "entrypointNumCpus": {"type": "number", "minimum": 0},
            "entrypointNumGpus": {"type": "number", "minimum": 0},
            "entrypointResources": STR,
            "shutdownAfterJobFinishes": BOOL,
            "ttlSecondsAfterFinished": NONNEG,
            "activeDeadlineSeconds": NONNEG,
            "backoffLimit": NONNEG,
            "suspend": BOOL,
            "managedBy": STR,
            "deletionStrategy": OBJECT,
        },
        required=("entrypoint",),
    ),
    "ray.io/v1",
    "RayJob",
)

CRD_SCHEMAS: dict[tuple[str, str], Schema] = {
    ("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): TRIGGER_AUTHENTICATION,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR,
    ("monitoring.coreos.com/v1", "PodMonitor"): POD_MONITOR,
    ("cert-manager.io/v1", "Certificate"): CERTIFICATE,
    ("cert-manager.io/v1", "ClusterIssuer"): CLUSTER_ISSUER,
    ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"): LEADER_WORKER_SET,
    ("ray.io/v1", "RayJob"): RAY_JOB,
}
