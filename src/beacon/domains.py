"""The list of domains Beacon is made of, for the composition root (``beacon/app.py``,
``beacon/cli.py``). A module of its own so that the command line reads it without importing
the app factory or every model."""

from __future__ import annotations

from beacon.activation.domain import DOMAIN as ACTIVATION
from beacon.console.domain import DOMAIN as CONSOLE
from beacon.contextual.domain import DOMAIN as CONTEXTUAL
from beacon.core.domain import Domain
from beacon.messaging.domain import DOMAIN as MESSAGING
from beacon.people.domain import DOMAIN as PEOPLE
from beacon.pixel.domain import DOMAIN as PIXEL

# In this order: routers (the OpenAPI document's order), job kinds, ticks, commands.
DOMAINS: tuple[Domain, ...] = (PIXEL, MESSAGING, CONTEXTUAL, ACTIVATION, CONSOLE, PEOPLE)
