"""The app's wiring of domain events: importing this module subscribes every domain that
listens (`control_plane.events`). Every process that delivers events imports it, through the
app, so none of them misses a subscriber."""

from control_plane.billing import service as billing_service  # its jobs and upcalls
from control_plane.media import subscriptions as media_subscriptions
from control_plane.notifications import account_mail as notifications_account_mail
from control_plane.notifications import subscriptions as notifications_subscriptions
from control_plane.revenue import subscriptions as revenue_subscriptions
from control_plane.scheduling import subscriptions as scheduling_subscriptions

__all__ = ["billing_service", "media_subscriptions", "notifications_account_mail",
           "notifications_subscriptions",
           "revenue_subscriptions", "scheduling_subscriptions"]
