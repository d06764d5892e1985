"""Every /public/v1 router, the unsubscribe link (/u/{token}), and the family's error envelope
registered for its paths."""

from __future__ import annotations

from fastapi import APIRouter

from beacon.core.http import register_secret_path_prefix
from beacon.messaging import errors
from beacon.messaging.audiences.router import router as audiences_router
from beacon.messaging.audiences.unsubscribe_router import router as unsubscribe_router
from beacon.messaging.campaigns.router import router as campaigns_router
from beacon.messaging.oauth.router import router as oauth_router

errors.register()
# The unsubscribe token is the credential of its link: never in the access log.
register_secret_path_prefix("/u/")
register_secret_path_prefix("/public/v1/unsubscribe/")

router = APIRouter()
router.include_router(oauth_router)
router.include_router(campaigns_router)
router.include_router(audiences_router)
router.include_router(unsubscribe_router)
