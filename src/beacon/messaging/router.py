"""Every /public/v1 router and the unsubscribe link (/u/{token}); the family's error envelope
and its secret paths are declared by the domain (``domain.py``)."""

from __future__ import annotations

from fastapi import APIRouter

from beacon.messaging.audiences.router import router as audiences_router
from beacon.messaging.audiences.unsubscribe_router import router as unsubscribe_router
from beacon.messaging.campaigns.router import router as campaigns_router
from beacon.messaging.oauth.router import router as oauth_router

router = APIRouter()
router.include_router(oauth_router)
router.include_router(campaigns_router)
router.include_router(audiences_router)
router.include_router(unsubscribe_router)
