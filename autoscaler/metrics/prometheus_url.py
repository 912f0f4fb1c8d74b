"""Whether a string is a Prometheus address Prewarm can read: http(s)://host[:port][/path].

Checked where an address enters (ScaledObject metadata, the serve config), so a bad one is
an error naming its key there, never an exception from the HTTP client at the first read.
Pure and light: the gRPC front process imports it to check metadata.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

MAX_URL_CHARS = 2048
_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*\.?$")  # DNS names, IPv4 addresses too
_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_problem(url: str) -> str | None:
    """Why `url` is not an address to read Prometheus at, or None when it is.

    'http://prom:9090' -> None; 'http://prom:99999' -> 'port must be a number from 1 to 65535'.
    The reasons never quote the URL: the caller quotes it, cut to a length it chooses.
    """
    if len(url) > MAX_URL_CHARS:
        return f"longer than {MAX_URL_CHARS} characters"
    if not all("!" <= ch <= "~" for ch in url):
        # urlsplit silently drops tabs and newlines; an IDNA host is written xn--...
        return "must be printable ASCII without spaces"
    try:
        parts = urlsplit(url)
    except ValueError:  # urllib's only complaint at split time
        return "has brackets that do not match, or hold no IPv6 address"
    if parts.scheme not in _DEFAULT_PORTS:
        return "must start http:// or https://"
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        return "must be http(s)://host[:port][/path], without a query or fragment"
    host = parts.hostname
    if not host:
        return "has no host"
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "has a bracketed host that is not an IPv6 address"
    elif len(host) > 253 or not _HOSTNAME.match(host):
        return "has a host that is not a DNS name or IP address"
    try:
        port = parts.port
    except ValueError:  # not a number, or past 65535
        port = 0
    if port == 0 or (port is None and parts.netloc.endswith(":")):
        return "port must be a number from 1 to 65535"
    return None


def normalized(url: str) -> str:
    """`url` in one spelling per address, for comparing two of them: scheme and host in
    lower case, the port explicit, no trailing '/'. Only for URLs `url_problem` accepts.

    'HTTP://Prom.Monitoring/' -> 'http://prom.monitoring:80'.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    user, at, _ = parts.netloc.rpartition("@")
    return f"{scheme}://{user}{at}{host}:{parts.port or _DEFAULT_PORTS[scheme]}" + (
        parts.path.rstrip("/")
    )
