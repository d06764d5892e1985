"""Imports every ORM model so that ``metadata`` describes the whole schema."""

from beacon.activation import models as activation_models  # noqa: F401
from beacon.contextual import models as contextual_models  # noqa: F401
from beacon.core import models as core_models  # noqa: F401
from beacon.core.db import Base
from beacon.messaging import models as messaging_models  # noqa: F401
from beacon.people import models as people_models  # noqa: F401
from beacon.pixel import collector_models as pixel_collector_models  # noqa: F401
from beacon.pixel import models as pixel_models  # noqa: F401
from beacon.pixel import viewability_models as pixel_viewability_models  # noqa: F401
from beacon.pixel.reports import models as pixel_report_models  # noqa: F401
from beacon.pixel.stats import models as pixel_stats_models  # noqa: F401

metadata = Base.metadata
