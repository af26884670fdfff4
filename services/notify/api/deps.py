"""What the notify routers share: the runtime, settings and a session, typed for notify."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from notify.settings import NotifySettings
from shared.api import SessionDep, get_runtime, get_settings
from shared.service import Runtime

__all__ = ["RuntimeDep", "SessionDep", "SettingsDep"]

RuntimeDep = Annotated[Runtime[NotifySettings], Depends(get_runtime)]
SettingsDep = Annotated[NotifySettings, Depends(get_settings)]
