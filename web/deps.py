"""Annotated dependencies for routes."""

from typing import Annotated

from fastapi import Depends, Request

from shared.config import Settings
from web.state import AppState


# Async on purpose: FastAPI runs a plain `def` dependency in a thread pool, which cost more CPU
# than the rest of a generate request here.
async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.app
    return state


async def get_settings_dep(request: Request) -> Settings:
    state: AppState = request.app.state.app
    return state.settings


StateDep = Annotated[AppState, Depends(get_state)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
