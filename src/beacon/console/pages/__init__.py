"""The console's pages. Each module here is one area: it owns an ``APIRouter`` named
``router`` (paths relative to /app) and may list ``NAV`` items for the left navigation.
Adding a page module = writing it and naming it in ``MODULES``."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from fastapi import APIRouter

from beacon.core.permissions import Action

if TYPE_CHECKING:
    from beacon.console.web import Viewer

FAMILIES = ("Measure", "Understand", "Activate", "Orchestrate", "Settings")

MODULES = (
    "beacon.console.pages.auth",
    "beacon.console.pages.home",
    "beacon.console.pages.campaigns",
    "beacon.console.pages.members",
    "beacon.console.pages.credentials",
    "beacon.console.pages.account",
    "beacon.console.pages.dashboard",
    "beacon.console.pages.reports",
    "beacon.console.pages.classify",
    "beacon.console.pages.inventory",
    "beacon.console.pages.activations",
    "beacon.console.pages.segments",
    "beacon.console.pages.deliveries",
    "beacon.console.pages.segment_reports",
    "beacon.console.pages.orchestrate_campaigns",
    "beacon.console.pages.orchestrate_audiences",
    "beacon.console.pages.orchestrate_templates",
    "beacon.console.pages.orchestrate_contacts",
)


@dataclass(frozen=True)
class NavItem:
    """A link in the left navigation, under ``family``; shown when the role allows ``action``."""

    family: str
    label: str
    href: str
    action: Action = Action.read
    order: int = 100


@dataclass(frozen=True)
class NavSection:
    family: str
    items: list[NavItem]


def _modules() -> list[ModuleType]:
    return [importlib.import_module(name) for name in MODULES]


def routers() -> list[APIRouter]:
    """Every page module's router."""
    return [module.router for module in _modules()]


def nav_items() -> list[NavItem]:
    """Every page module's navigation items, whoever may see them."""
    return [item for module in _modules() for item in getattr(module, "NAV", ())]


def nav_sections(viewer: Viewer) -> list[NavSection]:
    """The navigation the viewer's role may use, grouped by family in the families' order."""
    items = nav_items()
    sections = []
    for family in FAMILIES:
        allowed = sorted(
            (i for i in items if i.family == family and viewer.can(i.action)),
            key=lambda i: (i.order, i.label),
        )
        if allowed:
            sections.append(NavSection(family, allowed))
    return sections
