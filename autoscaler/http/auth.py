"""Bearer-token guard for the operators' mutating endpoints.

Reads stay open (dashboards, curl); anything that changes the scaler or costs real work
(profile reload, backtests) needs `Authorization: Bearer <token>`. With no token configured
those endpoints are off (403) rather than open: forgetting the Secret must not leave a
write path unguarded.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

Credentials = HTTPAuthorizationCredentials
_bearer = HTTPBearer(auto_error=False, description="token from http.api_token_file")

# What the guard answers, for the OpenAPI schema of every operation behind it.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or wrong bearer token"},
    403: {"description": "mutating endpoints are disabled: no http.api_token_file configured"},
}


def require_token(token: str | None) -> Callable[..., None]:
    def guard(credentials: Annotated[Credentials | None, Depends(_bearer)]) -> None:
        if token is None:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "mutating endpoints are disabled: set http.api_token_file in the serve config",
            )
        if credentials is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return guard
