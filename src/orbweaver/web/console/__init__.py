"""The review console: analyst pages under /console and the JSON API under /api/review.

`create_app` includes `router`; everything it needs comes from the app's WebContext.
"""

from fastapi import APIRouter

from orbweaver.web.console import api, bankfiles, casework, crawl, exchanges, manage, pages, reports
from orbweaver.web.console.errorpages import install_error_pages

router = APIRouter()
router.include_router(pages.router)
router.include_router(manage.router)
router.include_router(api.router)
router.include_router(reports.router)
router.include_router(casework.router)
router.include_router(crawl.router)
router.include_router(bankfiles.router)
router.include_router(exchanges.router)

__all__ = ["install_error_pages", "router"]
