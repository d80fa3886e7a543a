"""Annotated dependencies for routes."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from shared.config import Settings
from shared.errors import Forbidden
from web.auth import Principal
from web.state import AppState

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`")
api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="Or `X-API-Key: <key>`"
)


# Async on purpose: FastAPI runs a plain `def` dependency in a thread pool, which cost more CPU
# than the rest of a generate request here.
async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.app
    return state


async def get_settings_dep(request: Request) -> Settings:
    state: AppState = request.app.state.app
    return state.settings


async def get_principal(
    request: Request,
    authorization: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    api_key: Annotated[str | None, Depends(api_key_header)],
) -> Principal:
    """The caller's key (401 if missing, unknown or revoked); the auth gate (web/auth.py) has
    usually checked it already, before the body was read."""
    checked = getattr(request.state, "principal", None)
    if isinstance(checked, Principal):
        return checked
    state: AppState = request.app.state.app
    key = authorization.credentials if authorization is not None else api_key
    return await state.auth.authenticate(key)


async def get_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    """The master key only (403 for any other valid key)."""
    if not principal.is_master:
        raise Forbidden("only the master key (MASTER_API_KEY) manages API keys")
    return principal


StateDep = Annotated[AppState, Depends(get_state)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
AdminDep = Annotated[Principal, Depends(get_admin)]
