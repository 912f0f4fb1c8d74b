"""Object names and label values from free text such as "meta-llama/Llama-3.1-8B".

Kubernetes names are DNS-1123 labels or subdomains: lower-case alphanumerics and '-', at most
63 characters for a label. Label values allow upper case, '.', '_' too, but no '/'. When text
has to be cut to fit, a short hash of the whole text is kept at the end so that two long names
sharing a prefix still differ.
"""

from __future__ import annotations

import hashlib
import re

DNS_LABEL_MAX = 63
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _fit(text: str, max_len: int, original: str, sep: str) -> str:
    if len(text) <= max_len:
        return text
    suffix = sep + short_hash(original)
    return text[: max_len - len(suffix)].rstrip("-_.") + suffix


def dns_label(text: str, max_len: int = DNS_LABEL_MAX) -> str:
    """ "meta-llama/Llama-3.1-8B" -> "meta-llama-llama-3-1-8b"."""
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if not name:
        name = "x" + short_hash(text)
    return _fit(name, max_len, text, "-")


def label_value(text: str) -> str:
    """ "meta-llama/Llama-3.1-8B" -> "meta-llama-Llama-3.1-8B" (case and dots kept)."""
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")
    return _fit(value, DNS_LABEL_MAX, text, "-")


def is_dns_label(name: str) -> bool:
    return len(name) <= DNS_LABEL_MAX and _DNS_LABEL.match(name) is not None


def is_label_value(value: str) -> bool:
    return len(value) <= DNS_LABEL_MAX and _LABEL_VALUE.match(value) is not None
