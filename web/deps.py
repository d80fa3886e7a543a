"""Annotated dependencies for routes."""

from typing import Annotated

from fastapi import Depends, Request

from shared.config import Settings
from web.state import AppState


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.app
    return state


def get_settings_dep(request: Request) -> Settings:
    return get_state(request).settings


StateDep = Annotated[AppState, Depends(get_state)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
