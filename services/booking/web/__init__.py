"""The web pages booking serves: patients' self-booking page and the staff day board,
with the staff accounts that sign in to the board."""

from __future__ import annotations

from fastapi import APIRouter

from booking.web import auth_api, pages, reports_page

router = APIRouter()
router.include_router(pages.router)
router.include_router(pages.api)
router.include_router(auth_api.router)
router.include_router(reports_page.router)
router.include_router(reports_page.api)

__all__ = ["router"]
