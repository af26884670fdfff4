"""The web pages booking serves: patients' self-booking page and the staff day board,
with the staff accounts that sign in to the board."""

from __future__ import annotations

from fastapi import APIRouter

from booking.web import auth_api, pages

router = APIRouter()
router.include_router(pages.router)
router.include_router(pages.api)
router.include_router(auth_api.router)

__all__ = ["router"]
