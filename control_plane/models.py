"""Every domain's tables, imported in one place so that `Base.metadata` is complete.

Alembic's autogenerate and the tests' schema checks read the metadata through this module.
"""

from control_plane import events as events_models
from control_plane.auth import models as auth_models
from control_plane.billing import models as billing_models
from control_plane.campaigns import models as campaigns_models
from control_plane.db import Base
from control_plane.devices import models as devices_models
from control_plane.engagement import models as engagement_models
from control_plane.jobs import models as jobs_models
from control_plane.media import models as media_models
from control_plane.moderation import models as moderation_models
from control_plane.notifications import models as notifications_models
from control_plane.orgs import models as orgs_models
from control_plane.payments import models as payments_models
from control_plane.reporting import models as reporting_models
from control_plane.revenue import models as revenue_models
from control_plane.scheduling import models as scheduling_models
from control_plane.venues import models as venues_models

__all__ = ["Base", "auth_models", "billing_models", "campaigns_models", "devices_models",
           "engagement_models", "events_models", "jobs_models", "media_models",
           "moderation_models", "notifications_models", "orgs_models", "payments_models",
           "reporting_models", "revenue_models", "scheduling_models", "venues_models"]
