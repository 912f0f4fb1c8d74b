"""Failures a test asks for: the next N matching requests answer 500 or 429 (with Retry-After)
before reaching the store, the way an overloaded or restarting API server answers. Every
request is also logged, so a test can count lists, watches and the resourceVersions they
resumed from."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Fault:
    code: int
    times: int
    method: str | None = None  # GET, POST, PUT, PATCH, DELETE; None for any
    path_contains: str = ""
    watch: bool | None = None  # only watches, only non-watches, or either
    retry_after_s: int | None = None

    def matches(self, method: str, path: str, is_watch: bool) -> bool:
        return (
            self.times > 0
            and self.method in (None, method)
            and self.path_contains in path
            and self.watch in (None, is_watch)
        )


REASONS = {
    409: ("Conflict", "Operation cannot be fulfilled: the object has been modified (injected)"),
    410: ("Expired", "too old resource version (injected)"),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: injected by the test"),
    503: ("ServiceUnavailable", "The server is currently unable to handle the request"),
    504: ("Timeout", "The server was unable to return a response in the time allotted"),
}


@dataclass
class Logged:
    method: str
    path: str
    query: dict[str, str]
    status: int = 0  # 0 while the request (a watch, say) is still being answered


@dataclass
class Faults:
    pending: list[Fault] = field(default_factory=list)
    log: list[Logged] = field(default_factory=list)

    def inject(
        self,
        code: int,
        *,
        times: int = 1,
        method: str | None = None,
        path_contains: str = "",
        watch: bool | None = None,
        retry_after_s: int | None = None,
    ) -> Fault:
        fault = Fault(code, times, method, path_contains, watch, retry_after_s)
        self.pending.append(fault)
        return fault

    def take(self, method: str, path: str, is_watch: bool) -> Fault | None:
        for fault in self.pending:
            if fault.matches(method, path, is_watch):
                fault.times -= 1
                return fault
        return None

    def requests(self, method: str | None = None, path_contains: str = "") -> list[Logged]:
        return [r for r in self.log if method in (None, r.method) and path_contains in r.path]
