"""Pydantic models of the ADSBIN REST API, generated from shared/openapi.json.

Do not edit: `make types` writes this file (shared/api_client/generate.py).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    RootModel,
    StringConstraints,
)


class AcceptInvitation(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    token: Annotated[str, Field(max_length=200, min_length=1, title="Token")]
    password: Annotated[
        str,
        Field(
            description="At least 10 characters",
            max_length=256,
            min_length=10,
            title="Password",
        ),
    ]
    name: Annotated[
        Annotated[str, StringConstraints(max_length=200)] | None, Field(title="Name")
    ] = None


class Accepted(BaseModel):
    """
    What an account email request answers, whoever the address belongs to.
    """

    status: Annotated[
        str,
        Field(
            description="`accepted` (an email is on its way if it applies), `already_verified`, `verified` or `password_changed`",
            title="Status",
        ),
    ]
    message: Annotated[str, Field(title="Message")]


class AckBody(BaseModel):
    status: Annotated[str, Field(pattern="^(delivered|acked|failed)$", title="Status")]
    result: Annotated[
        Annotated[str, StringConstraints(max_length=500)] | None, Field(title="Result")
    ] = None
    details: Annotated[dict[str, Any] | None, Field(title="Details")] = None


class AclRequest(BaseModel):
    username: Annotated[str, Field(max_length=200, title="Username")]
    topic: Annotated[str, Field(max_length=1000, title="Topic")]
    action: Annotated[Literal["publish", "subscribe"], Field(title="Action")]


class AdCategoryRead(BaseModel):
    id: Annotated[str, Field(title="Id")]
    name: Annotated[str, Field(title="Name")]
    parent_id: Annotated[str | None, Field(title="Parent Id")]
    tier1: Annotated[str, Field(title="Tier1")]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    name: Annotated[str, Field(max_length=200, min_length=1, title="Name")]


class ApiKeyCreated(BaseModel):
    id: Annotated[str, Field(title="Id")]
    org_id: Annotated[str, Field(title="Org Id")]
    name: Annotated[str, Field(title="Name")]
    prefix: Annotated[str, Field(title="Prefix")]
    scopes: Annotated[list[str], Field(title="Scopes")]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]
    last_used_at: Annotated[AwareDatetime | None, Field(title="Last Used At")]
    revoked_at: Annotated[AwareDatetime | None, Field(title="Revoked At")]
    key: Annotated[
        str,
        Field(
            description="The secret, shown this once; only its hash is kept",
            title="Key",
        ),
    ]


class ApiKeyRead(BaseModel):
    id: Annotated[str, Field(title="Id")]
    org_id: Annotated[str, Field(title="Org Id")]
    name: Annotated[str, Field(title="Name")]
    prefix: Annotated[str, Field(title="Prefix")]
    scopes: Annotated[list[str], Field(title="Scopes")]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]
    last_used_at: Annotated[AwareDatetime | None, Field(title="Last Used At")]
    revoked_at: Annotated[AwareDatetime | None, Field(title="Revoked At")]


class AreaRead(BaseModel):
    lat: Annotated[
        float, Field(description="Rounded to 1 decimal: about 11 km", title="Lat")
    ]
    lon: Annotated[float, Field(title="Lon")]
    timezone: Annotated[str, Field(title="Timezone")]


class AudienceDaypart(BaseModel):
    """
    Viewers per hour on some weekdays between two times of day (local to the venue).
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    weekdays: Annotated[
        list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]],
        Field(max_length=7, min_length=1, title="Weekdays"),
    ]
    start: Annotated[str, Field(description="HH:MM, local time", title="Start")]
    end: Annotated[
        str,
        Field(
            description="HH:MM (24:00 for midnight), after start; a daypart past midnight is given as two",
            title="End",
        ),
    ]
    viewers_per_hour: Annotated[
        float, Field(ge=0.0, le=1000000.0, title="Viewers Per Hour")
    ]
    age: Annotated[
        dict[str, float] | None,
        Field(
            description="This daypart's age split, when it differs from the profile's",
            title="Age",
        ),
    ] = None
    gender: Annotated[
        dict[str, float] | None,
        Field(
            description="This daypart's gender split, when it differs", title="Gender"
        ),
    ] = None


class AudienceProfileIn(BaseModel):
    """
    A venue's (or a screen's) audience: what its owner says, measured, or bought.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    source: Annotated[
        Literal["owner_estimate", "measured", "third_party"], Field(title="Source")
    ]
    as_of: Annotated[
        date | None, Field(description="When the figures were true", title="As Of")
    ] = None
    dwell_minutes: Annotated[
        float,
        Field(
            description="How long a viewer stays in view of the screen: a play is seen by viewers_per_hour × dwell_minutes / 60 people",
            gt=0.0,
            le=1440.0,
            title="Dwell Minutes",
        ),
    ] = 60.0
    dayparts: Annotated[
        list[AudienceDaypart], Field(max_length=200, min_length=1, title="Dayparts")
    ]
    age: Annotated[
        dict[str, float],
        Field(
            description="Shares of 18-24, 25-34, 35-44, 45-54, 55-64, 65+, summing to 1",
            title="Age",
        ),
    ]
    gender: Annotated[
        dict[str, float],
        Field(
            description="Shares of female, male, other, summing to 1", title="Gender"
        ),
    ]


class AudienceProfileRead(BaseModel):
    id: Annotated[str, Field(title="Id")]
    venue_id: Annotated[str, Field(title="Venue Id")]
    screen_id: Annotated[str | None, Field(title="Screen Id")]
    version: Annotated[int, Field(title="Version")]
    source: Annotated[str, Field(title="Source")]
    as_of: Annotated[date | None, Field(title="As Of")]
    dwell_minutes: Annotated[float, Field(title="Dwell Minutes")]
    dayparts: Annotated[list[AudienceDaypart], Field(title="Dayparts")]
    age: Annotated[dict[str, float], Field(title="Age")]
    gender: Annotated[dict[str, float], Field(title="Gender")]
    effective_from: Annotated[AwareDatetime, Field(title="Effective From")]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]


class AudienceRead(BaseModel):
    """
    The profile in force for a venue or a screen, and where it comes from.
    """

    in_force: Annotated[
        AudienceProfileRead | None,
        Field(
            description="None: impressions count the screen's flat audience_multiplier"
        ),
    ]
    inherited: Annotated[
        bool,
        Field(description="A screen's: the profile is its venue's", title="Inherited"),
    ] = False
    history: Annotated[
        list[AudienceProfileRead],
        Field(
            description="This venue's or screen's own profiles, newest first",
            title="History",
        ),
    ]


class AuthRequest(BaseModel):
    username: Annotated[str, Field(max_length=200, title="Username")]
    password: Annotated[str, Field(max_length=200, title="Password")]
    clientid: Annotated[
        Annotated[str, StringConstraints(max_length=200)] | None,
        Field(title="Clientid"),
    ] = None


class BatchRead(BaseModel):
    """
    A stored batch: `message` is the exact UTF-8 text the device signed.
    """

    id: Annotated[
        str,
        Field(
            description="sha256 of the signed message (the `batch` of exported plays)",
            title="Id",
        ),
    ]
    batch_id: Annotated[str, Field(title="Batch Id")]
    device_id: Annotated[str, Field(title="Device Id")]
    screen_id: Annotated[str, Field(title="Screen Id")]
    public_key: Annotated[
        str,
        Field(
            description="The device's raw Ed25519 public key, standard base64",
            title="Public Key",
        ),
    ]
    signature: Annotated[
        str,
        Field(
            description="Ed25519 signature of `message`, standard base64",
            title="Signature",
        ),
    ]
    message: Annotated[str, Field(title="Message")]
    records: Annotated[int, Field(title="Records")]
    transport: Annotated[str, Field(title="Transport")]
    received_at: Annotated[AwareDatetime, Field(title="Received At")]
    verifies: Annotated[
        bool,
        Field(
            description="Whether the signature verifies now (it always should)",
            title="Verifies",
        ),
    ]


class MaxPlaysPerHour(RootModel[int]):
    root: Annotated[int, Field(ge=1, le=3600, title="Max Plays Per Hour")]


class ShareOfVoice(RootModel[float]):
    root: Annotated[
        float,
        Field(
            description="The most of each screen's loop the campaign takes (0 < x ≤ 1). It never overrides pacing: with `even` pacing the budget's even spread over the flight bounds what it spends per hour, so it gets the smaller of the two; with `asap` it takes up to this share until the budget is spent.",
            gt=0.0,
            le=1.0,
            title="Share Of Voice",
        ),
    ]


class BudgetCents(RootModel[int]):
    root: Annotated[int, Field(gt=0, le=1000000000000, title="Budget Cents")]


class CpmCents(RootModel[int]):
    root: Annotated[int, Field(gt=0, le=1000000000, title="Cpm Cents")]


class CategoryRead(BaseModel):
    id: Annotated[str, Field(description="IAB Ad Product Taxonomy 2.0 id", title="Id")]
    name: Annotated[str, Field(title="Name")]
    tier1: Annotated[
        str, Field(description="Its top-level category, e.g. Alcohol", title="Tier1")
    ]


class ChannelSwitches(BaseModel):
    """
    On or off per channel (absent: unchanged).
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    email: Annotated[bool | None, Field(title="Email")] = None
    sms: Annotated[bool | None, Field(title="Sms")] = None
    push: Annotated[bool | None, Field(title="Push")] = None


class ClaimRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    code: Annotated[
        str, Field(examples=["K7P-4QX"], max_length=20, min_length=1, title="Code")
    ]


class ClaimResult(BaseModel):
    screen_id: Annotated[str, Field(title="Screen Id")]
    device_id: Annotated[str, Field(title="Device Id")]
    display: Annotated[dict[str, int], Field(title="Display")]
    agent_version: Annotated[str, Field(title="Agent Version")]


class CloseIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    period_start: Annotated[AwareDatetime, Field(title="Period Start")]
    period_end: Annotated[AwareDatetime, Field(title="Period End")]


class Command(BaseModel):
    """
    A remote command, sent QoS 1 on the screen's `commands` topic (and listed over HTTP).
    """

    schema_: Annotated[
        Literal["adsbin.command/v1"], Field(alias="schema", title="Schema")
    ] = "adsbin.command/v1"
    id: Annotated[str, Field(title="Id")]
    type: Annotated[
        Literal["resync", "screenshot", "reboot", "identify", "clear_cache"],
        Field(title="Type"),
    ]
    expires_at: Annotated[AwareDatetime, Field(title="Expires At")]
    upload_url: Annotated[
        str | None,
        Field(description="screenshot: where to PUT the PNG", title="Upload Url"),
    ] = None
    screen_name: Annotated[
        str | None, Field(description="identify: the name to show", title="Screen Name")
    ] = None


class TtlS(RootModel[int]):
    root: Annotated[
        int,
        Field(
            description="Seconds before an unacknowledged command expires",
            ge=1,
            le=86400,
            title="Ttl S",
        ),
    ]


class CommandCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    type: Annotated[
        Literal["resync", "screenshot", "reboot", "identify", "clear_cache"],
        Field(title="Type"),
    ]
    ttl_s: Annotated[
        TtlS | None,
        Field(
            description="Seconds before an unacknowledged command expires",
            title="Ttl S",
        ),
    ] = None


class CommandRead(BaseModel):
    id: Annotated[str, Field(title="Id")]
    screen_id: Annotated[str, Field(title="Screen Id")]
    type: Annotated[str, Field(title="Type")]
    status: Annotated[
        str,
        Field(
            description="queued | delivered | acked | failed | expired", title="Status"
        ),
    ]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]
    expires_at: Annotated[AwareDatetime, Field(title="Expires At")]
    delivered_at: Annotated[AwareDatetime | None, Field(title="Delivered At")]
    finished_at: Annotated[AwareDatetime | None, Field(title="Finished At")]
    result: Annotated[str | None, Field(title="Result")]
    details: Annotated[dict[str, Any], Field(title="Details")]
    screenshot_url: Annotated[str | None, Field(title="Screenshot Url")] = None
    published: Annotated[
        bool | None,
        Field(
            description="Whether the broker took it at once (devices also poll over HTTP)",
            title="Published",
        ),
    ] = None


class DurationS(RootModel[int]):
    root: Annotated[
        int,
        Field(
            description="Images: required; videos: their own length rounded up to a whole second by default",
            ge=5,
            le=120,
            title="Duration S",
        ),
    ]


class CreativeCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    media_id: Annotated[str, Field(max_length=40, title="Media Id")]
    duration_s: Annotated[
        DurationS | None,
        Field(
            description="Images: required; videos: their own length rounded up to a whole second by default",
            title="Duration S",
        ),
    ] = None


class CreativeRead(BaseModel):
    id: Annotated[str, Field(title="Id")]
    media_id: Annotated[str, Field(title="Media Id")]
    duration_s: Annotated[int, Field(title="Duration S")]
    status: Annotated[str, Field(title="Status")]
    review_note: Annotated[str | None, Field(title="Review Note")]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]


class CycleRead(BaseModel):
    id: Annotated[str, Field(title="Id")]
    period_start: Annotated[AwareDatetime, Field(title="Period Start")]
    period_end: Annotated[AwareDatetime, Field(title="Period End")]
    status: Annotated[
        str,
        Field(
            description="`closing` while invoices wait for the payment provider",
            title="Status",
        ),
    ]
    created: Annotated[
        bool,
        Field(
            description="false: the period was closed before; nothing more was billed",
            title="Created",
        ),
    ]
    invoices: Annotated[int, Field(title="Invoices")]
    invoiced_cents: Annotated[
        dict[str, int], Field(description="per currency", title="Invoiced Cents")
    ]
    pending_invoices: Annotated[
        int,
        Field(
            description="not issued by the provider yet (retried)",
            title="Pending Invoices",
        ),
    ]
    last_error: Annotated[str | None, Field(title="Last Error")] = None


class Daypart(BaseModel):
    """
    Weekdays and a local time range, in each screen's own time zone.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    weekdays: Annotated[
        list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]],
        Field(max_length=7, min_length=1, title="Weekdays"),
    ]
    start: Annotated[str, Field(examples=["07:00"], title="Start")]
    end: Annotated[
        str,
        Field(
            description="Before `start`: runs past midnight",
            examples=["10:00"],
            title="End",
        ),
    ]


class DecisionBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    scope: Annotated[
        Literal["creative", "advertiser"],
        Field(
            description="creative: this ad only; advertiser: every ad of theirs",
            title="Scope",
        ),
    ] = "creative"
    reason: Annotated[
        Annotated[str, StringConstraints(max_length=2000)] | None, Field(title="Reason")
    ] = None


class DecisionRead(BaseModel):
    venue_id: Annotated[str, Field(title="Venue Id")]
    scope: Annotated[str, Field(title="Scope")]
    subject_id: Annotated[str, Field(title="Subject Id")]
    decision: Annotated[str, Field(title="Decision")]
    reason: Annotated[str | None, Field(title="Reason")]


class DeliveryRead(BaseModel):
    channel: Annotated[str, Field(title="Channel")]
    status: Annotated[str, Field(title="Status")]
    attempts: Annotated[int, Field(title="Attempts")]
    last_error: Annotated[str | None, Field(title="Last Error")]
    sent_at: Annotated[AwareDatetime | None, Field(title="Sent At")]


class DeliveryReport(BaseModel):
    """
    A delivery report as JSON (the CSV has the same rows and columns, without totals).
    """

    from_: Annotated[
        AwareDatetime,
        Field(
            alias="from",
            description="Start of the first whole hour covered",
            title="From",
        ),
    ]
    to: Annotated[
        AwareDatetime,
        Field(description="End of the last whole hour covered", title="To"),
    ]
    group_by: Annotated[list[str], Field(title="Group By")]
    notes: Annotated[list[str] | None, Field(title="Notes")] = None
    rows: Annotated[
        list[dict[str, Any]],
        Field(
            description="Per group and currency: plays (every stored play), billable_plays, seconds played, impressions, and spend_cents (advertisers, platform) or earnings_cents (venues); scans, unique_scanners and scans_per_1000_impressions of the campaigns' tracked links, attributed to the screens that played them as in /v1/reports/engagement (not by creative); grouped by age_band or gender: impressions split by the audience profile in force at each play, and target_impressions (those of each campaign's audience target)",
            title="Rows",
        ),
    ]
    totals: Annotated[
        list[dict[str, Any]],
        Field(description="The rows added up, per currency", title="Totals"),
    ]


class Display(BaseModel):
    """
    What the agent knows of its display.
    """

    width_px: Annotated[int, Field(ge=1, le=16384, title="Width Px")]
    height_px: Annotated[int, Field(ge=1, le=16384, title="Height Px")]


class EngagementReport(BaseModel):
    """
    Scans, unique scanners, impressions and scans per 1,000 impressions, grouped.
    """

    from_: Annotated[
        AwareDatetime,
        Field(
            alias="from",
            description="Start of the first whole hour covered",
            title="From",
        ),
    ]
    to: Annotated[
        AwareDatetime,
        Field(description="End of the last whole hour covered", title="To"),
    ]
    group_by: Annotated[list[str], Field(title="Group By")]
    attribution_window_s: Annotated[float, Field(title="Attribution Window S")]
    notes: Annotated[list[str] | None, Field(title="Notes")] = None
    rows: Annotated[list[dict[str, Any]], Field(title="Rows")]
    totals: Annotated[dict[str, Any], Field(title="Totals")]


class ErrorInfo(BaseModel):
    """
    What went wrong: a stable code to act on, a sentence for people, and details (null when
    there are none; always present).
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    code: Annotated[str, Field(title="Code")]
    message: Annotated[str, Field(title="Message")]
    details: Annotated[Any, Field(title="Details")]


class Forecast(BaseModel):
    horizon_h: Annotated[int, Field(title="Horizon H")]
    eligible_screens: Annotated[int, Field(title="Eligible Screens")]
    available_impressions: Annotated[
        float,
        Field(
            description="If the campaign took every slot of every eligible screen in the horizon",
            title="Available Impressions",
        ),
    ]
    planned_plays: Annotated[
        int,
        Field(
            description="What the engine would plan for it, next to every approved campaign, in the horizon",
            title="Planned Plays",
        ),
    ]
    planned_impressions: Annotated[float, Field(title="Planned Impressions")]
    target_impressions: Annotated[
        float,
        Field(
            description="Of the planned impressions, those of the targeted audience: each play's impressions × the audience's share of viewers at its screen and time; without audience targeting, all of them",
            title="Target Impressions",
        ),
    ]
    expected_spend_cents: Annotated[
        int,
        Field(
            description="planned impressions × CPM / 1000, rounded down, never more than the budget",
            title="Expected Spend Cents",
        ),
    ]
    currency: Annotated[str, Field(title="Currency")]


class Geo(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    lat: Annotated[float, Field(ge=-90.0, le=90.0, title="Lat")]
    lon: Annotated[float, Field(ge=-180.0, le=180.0, title="Lon")]
    radius_km: Annotated[float, Field(gt=0.0, le=20000.0, title="Radius Km")]


class DiskFreeBytes(RootModel[int]):
    root: Annotated[int, Field(ge=0, title="Disk Free Bytes")]


class TemperatureC(RootModel[float]):
    root: Annotated[float, Field(ge=-100.0, le=200.0, title="Temperature C")]


class UptimeS(RootModel[float]):
    root: Annotated[float, Field(ge=0.0, title="Uptime S")]


class Heartbeat(BaseModel):
    """
    A device's health, every 30 s over MQTT (or HTTP when MQTT is unavailable).
    """

    schema_: Annotated[
        Literal["adsbin.heartbeat/v1"], Field(alias="schema", title="Schema")
    ] = "adsbin.heartbeat/v1"
    sent_at: Annotated[AwareDatetime, Field(title="Sent At")]
    agent_version: Annotated[str, Field(max_length=50, title="Agent Version")]
    now_playing: Annotated[dict[str, Any] | None, Field(title="Now Playing")] = None
    cache: Annotated[
        dict[str, Any] | None,
        Field(description="files, bytes, quota_bytes", title="Cache"),
    ] = None
    disk_free_bytes: Annotated[DiskFreeBytes | None, Field(title="Disk Free Bytes")] = (
        None
    )
    temperature_c: Annotated[TemperatureC | None, Field(title="Temperature C")] = None
    uptime_s: Annotated[UptimeS | None, Field(title="Uptime S")] = None
    clock_offset_ms: Annotated[int | None, Field(title="Clock Offset Ms")] = None


class HeartbeatAck(BaseModel):
    """
    The server's answer to an HTTP heartbeat: its clock, to measure the offset.
    """

    server_time: Annotated[AwareDatetime, Field(title="Server Time")]


class HookAnswer(BaseModel):
    result: Annotated[Literal["allow", "deny"], Field(title="Result")]
    is_superuser: Annotated[bool, Field(title="Is Superuser")] = False


class InvoiceLineRead(BaseModel):
    id: Annotated[str, Field(title="Id")]
    campaign_id: Annotated[str, Field(title="Campaign Id")]
    campaign_name: Annotated[str, Field(title="Campaign Name")]
    kind: Annotated[
        str,
        Field(
            description="`delivery`, or `late_delivery`: plays of an earlier period that arrived after it was closed",
            title="Kind",
        ),
    ]
    period_start: Annotated[
        AwareDatetime, Field(description="the plays' own period", title="Period Start")
    ]
    period_end: Annotated[AwareDatetime, Field(title="Period End")]
    plays: Annotated[int, Field(title="Plays")]
    impressions: Annotated[float, Field(title="Impressions")]
    cpm_cents: Annotated[int, Field(title="Cpm Cents")]
    amount_cents: Annotated[int, Field(title="Amount Cents")]
    value_cents: Annotated[
        int,
        Field(
            description="the impressions at the CPM, were there no budget",
            title="Value Cents",
        ),
    ]
    budget_capped_cents: Annotated[
        int,
        Field(
            description="delivered free: the budget was spent",
            title="Budget Capped Cents",
        ),
    ]


class InvoiceRead(BaseModel):
    id: Annotated[str, Field(title="Id")]
    org_id: Annotated[str, Field(title="Org Id")]
    cycle_id: Annotated[str, Field(title="Cycle Id")]
    period_start: Annotated[AwareDatetime, Field(title="Period Start")]
    period_end: Annotated[AwareDatetime, Field(title="Period End")]
    currency: Annotated[str, Field(title="Currency")]
    status: Annotated[str, Field(title="Status")]
    amount_cents: Annotated[int, Field(title="Amount Cents")]
    plays: Annotated[int, Field(title="Plays")]
    impressions: Annotated[float, Field(title="Impressions")]
    number: Annotated[str | None, Field(title="Number")]
    hosted_invoice_url: Annotated[str | None, Field(title="Hosted Invoice Url")]
    provider: Annotated[str, Field(title="Provider")]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]
    issued_at: Annotated[AwareDatetime | None, Field(title="Issued At")]
    paid_at: Annotated[AwareDatetime | None, Field(title="Paid At")]
    lines: Annotated[list[InvoiceLineRead], Field(title="Lines")]


class JobRead(BaseModel):
    id: Annotated[str, Field(title="Id")]
    status: Annotated[str, Field(title="Status")]
    attempts: Annotated[int, Field(title="Attempts")]
    last_error: Annotated[str | None, Field(title="Last Error")]


class KindPreference(BaseModel):
    kind: Annotated[str, Field(title="Kind")]
    title: Annotated[str, Field(title="Title")]
    urgent: Annotated[bool, Field(title="Urgent")]
    email: Annotated[bool, Field(title="Email")]
    sms: Annotated[bool, Field(title="Sms")]
    push: Annotated[bool, Field(title="Push")]


class MediaError(BaseModel):
    code: Annotated[str, Field(title="Code")]
    message: Annotated[str, Field(title="Message")]


class MqttCredentials(BaseModel):
    """
    Where and as whom the device connects to the broker.
    """

    url: Annotated[str, Field(title="Url")]
    username: Annotated[str, Field(title="Username")]
    password: Annotated[str, Field(title="Password")]


class NotificationRead(BaseModel):
    id: Annotated[str, Field(title="Id")]
    kind: Annotated[str, Field(title="Kind")]
    title: Annotated[str, Field(title="Title")]
    body: Annotated[str, Field(title="Body")]
    link: Annotated[str | None, Field(title="Link")]
    org_id: Annotated[str | None, Field(title="Org Id")]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]
    read_at: Annotated[AwareDatetime | None, Field(title="Read At")]
    deliveries: Annotated[list[DeliveryRead], Field(title="Deliveries")]


class OfflineMessageRead(BaseModel):
    id: Annotated[str, Field(title="Id")]
    channel: Annotated[str, Field(title="Channel")]
    to: Annotated[str, Field(title="To")]
    subject: Annotated[str, Field(title="Subject")]
    body: Annotated[str, Field(title="Body")]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]


class OnboardingLink(BaseModel):
    """
    Where a venue org's admin fills in Stripe's forms (offline: a local page).
    """

    url: Annotated[str, Field(title="Url")]
    account_id: Annotated[str, Field(title="Account Id")]
    payouts_enabled: Annotated[bool, Field(title="Payouts Enabled")]


class OrgRead(BaseModel):
    id: Annotated[str, Field(title="Id")]
    name: Annotated[str, Field(title="Name")]
    kind: Annotated[Literal["advertiser", "venue", "platform"], Field(title="OrgKind")]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]


class PairingRequest(BaseModel):
    """
    An unpaired agent asking for a pairing code.
    """

    schema_: Annotated[
        Literal["adsbin.pairing-request/v1"], Field(alias="schema", title="Schema")
    ] = "adsbin.pairing-request/v1"
    fingerprint: Annotated[
        str,
        Field(
            description="A stable hash of the unit's hardware ids",
            max_length=200,
            min_length=8,
            title="Fingerprint",
        ),
    ]
    public_key: Annotated[
        str,
        Field(
            description="The agent's Ed25519 public key, standard base64",
            title="Public Key",
        ),
    ]
    display: Display
    agent_version: Annotated[str, Field(max_length=50, title="Agent Version")]


class PairingStatus(BaseModel):
    """
    The state of a pairing; credentials appear once, on the first poll after the claim.
    """

    status: Annotated[Literal["pending", "claimed", "expired"], Field(title="Status")]
    expires_at: Annotated[AwareDatetime, Field(title="Expires At")]
    poll_after_s: Annotated[int | None, Field(title="Poll After S")] = None
    device_id: Annotated[str | None, Field(title="Device Id")] = None
    screen_id: Annotated[str | None, Field(title="Screen Id")] = None
    device_token: Annotated[str | None, Field(title="Device Token")] = None
    mqtt: MqttCredentials | None = None


class PairingTicket(BaseModel):
    """
    The code to show on screen, and how to poll for the claim.
    """

    pairing_id: Annotated[str, Field(title="Pairing Id")]
    code: Annotated[str, Field(title="Code")]
    expires_at: Annotated[AwareDatetime, Field(title="Expires At")]
    poll_after_s: Annotated[int, Field(title="Poll After S")]


class PasswordReset(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    token: Annotated[
        str,
        Field(
            description="from the emailed link",
            max_length=300,
            min_length=1,
            title="Token",
        ),
    ]
    password: Annotated[
        str,
        Field(
            description="At least 10 characters",
            max_length=256,
            min_length=10,
            title="Password",
        ),
    ]


class PasswordResetRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    email: Annotated[EmailStr, Field(title="Email")]


class PayoutRead(BaseModel):
    id: Annotated[str, Field(title="Id")]
    venue_org_id: Annotated[str, Field(title="Venue Org Id")]
    cycle_id: Annotated[str, Field(title="Cycle Id")]
    currency: Annotated[str, Field(title="Currency")]
    amount_cents: Annotated[int, Field(title="Amount Cents")]
    reversed_cents: Annotated[int, Field(title="Reversed Cents")]
    status: Annotated[str, Field(title="Status")]
    transfer_group: Annotated[str, Field(title="Transfer Group")]
    source_transaction: Annotated[str | None, Field(title="Source Transaction")]
    transfer_id: Annotated[str | None, Field(title="Transfer Id")]
    last_error: Annotated[str | None, Field(title="Last Error")]
    lines: Annotated[int, Field(title="Lines")]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]
    paid_at: Annotated[AwareDatetime | None, Field(title="Paid At")]


class PayoutRunIn(BaseModel):
    """
    The billing period whose closed cycle is paid out.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    period_start: Annotated[AwareDatetime, Field(title="Period Start")]
    period_end: Annotated[AwareDatetime, Field(title="Period End")]


class PhoneConfirmIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    code: Annotated[
        str, Field(description="the 6 digits sent by SMS", max_length=12, title="Code")
    ]


class PhoneIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    number: Annotated[
        str,
        Field(
            description="in E.164: + and the country code, no spaces (e.g. +33612345678)",
            max_length=32,
            title="Number",
        ),
    ]


class PhoneRead(BaseModel):
    number: Annotated[str, Field(title="Number")]
    confirmed: Annotated[bool, Field(title="Confirmed")]
    confirmed_at: Annotated[AwareDatetime | None, Field(title="Confirmed At")]
    code_sent_at: Annotated[AwareDatetime | None, Field(title="Code Sent At")]
    code_expires_at: Annotated[AwareDatetime | None, Field(title="Code Expires At")]


class PlaylistItem(BaseModel):
    """
    One entry of a loop: a creative (or house content) for `slots` slots.
    """

    kind: Annotated[Literal["campaign", "house"], Field(title="Kind")]
    campaign_id: Annotated[str | None, Field(title="Campaign Id")] = None
    creative_id: Annotated[str, Field(title="Creative Id")]
    media_sha256: Annotated[str, Field(title="Media Sha256")]
    duration_s: Annotated[int, Field(title="Duration S")]
    slots: Annotated[int, Field(title="Slots")]


class PlaylistMedia(BaseModel):
    """
    One file to have in the cache.
    """

    sha256: Annotated[str, Field(pattern="^[0-9a-f]{64}$", title="Sha256")]
    size_bytes: Annotated[int, Field(ge=0, title="Size Bytes")]
    mime: Annotated[str, Field(title="Mime")]
    duration_ms: Annotated[int | None, Field(title="Duration Ms")] = None
    url: Annotated[str, Field(title="Url")]


class PlaylistWindow(BaseModel):
    """
    From `start` to `end`, play `loop` again and again.
    """

    start: Annotated[AwareDatetime, Field(title="Start")]
    end: Annotated[AwareDatetime, Field(title="End")]
    loop: Annotated[list[PlaylistItem], Field(title="Loop")]


class PopRejection(BaseModel):
    """
    A record the server would not take, and why (a stable code).
    """

    play_id: Annotated[str | None, Field(title="Play Id")]
    code: Annotated[str, Field(title="Code")]


class PreferencesIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    preferences: Annotated[
        dict[str, ChannelSwitches],
        Field(
            description="per kind of notification (see GET): the channels to switch",
            max_length=100,
            title="Preferences",
        ),
    ]


class PreferencesRead(BaseModel):
    preferences: Annotated[list[KindPreference], Field(title="Preferences")]


class PushKeys(BaseModel):
    """
    A subscription's keys, base64url: the browser's ECDH public key and the auth secret.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    p256dh: Annotated[str, Field(max_length=200, title="P256Dh")]
    auth: Annotated[str, Field(max_length=100, title="Auth")]


class PushSubscriptionIn(BaseModel):
    """
    A browser's `PushSubscription.toJSON()`.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    endpoint: Annotated[
        str,
        Field(
            description="the push service's URL for this browser (https)",
            max_length=600,
            min_length=1,
            title="Endpoint",
        ),
    ]
    expirationTime: Annotated[
        float | None,
        Field(description="ignored, as browsers send it", title="Expirationtime"),
    ] = None
    keys: PushKeys


class PushSubscriptionRead(BaseModel):
    id: Annotated[str, Field(title="Id")]
    endpoint: Annotated[str, Field(title="Endpoint")]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]


class ReasonCount(BaseModel):
    reason: Annotated[str, Field(title="Reason")]
    screens: Annotated[int, Field(title="Screens")]


class ReconciliationRow(BaseModel):
    currency: Annotated[str, Field(title="Currency")]
    invoiced_cents: Annotated[int, Field(title="Invoiced Cents")]
    plays_spend_cents: Annotated[
        int,
        Field(
            description="the plays behind the lines, summed again",
            title="Plays Spend Cents",
        ),
    ]
    venue_earnings_cents: Annotated[int, Field(title="Venue Earnings Cents")]
    platform_cents: Annotated[int, Field(title="Platform Cents")]
    difference_cents: Annotated[
        int,
        Field(
            description="invoiced − venue earnings − platform share",
            title="Difference Cents",
        ),
    ]


class RenditionRead(BaseModel):
    role: Annotated[
        str, Field(description="image | video | poster | thumbnail", title="Role")
    ]
    name: Annotated[str, Field(title="Name")]
    width: Annotated[int, Field(title="Width")]
    height: Annotated[int, Field(title="Height")]
    mime: Annotated[str, Field(title="Mime")]
    size_bytes: Annotated[int, Field(title="Size Bytes")]
    sha256: Annotated[str, Field(title="Sha256")]
    duration_ms: Annotated[int | None, Field(title="Duration Ms")]
    url: Annotated[
        str, Field(description="A signed URL, valid for an hour", title="Url")
    ]


class ReviewNote(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    reason: Annotated[str, Field(max_length=2000, min_length=1, title="Reason")]


class ScreenCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    name: Annotated[str, Field(max_length=200, min_length=1, title="Name")]
    width_px: Annotated[int, Field(ge=160, le=8192, title="Width Px")]
    height_px: Annotated[int, Field(ge=160, le=8192, title="Height Px")]
    orientation: Annotated[
        Literal["landscape", "portrait"], Field(title="Orientation")
    ] = "landscape"
    audience_multiplier: Annotated[
        float,
        Field(
            description="Impressions per play",
            gt=0.0,
            le=10000.0,
            title="Audience Multiplier",
        ),
    ] = 1.0
    audience_source: Annotated[
        str,
        Field(
            description="Where the multiplier comes from",
            max_length=200,
            title="Audience Source",
        ),
    ] = "default"


class ScreenEligibility(BaseModel):
    screen_id: Annotated[str, Field(title="Screen Id")]
    venue_id: Annotated[str, Field(title="Venue Id")]
    venue_name: Annotated[str, Field(title="Venue Name")]
    eligible: Annotated[bool, Field(title="Eligible")]
    reasons: Annotated[list[str], Field(title="Reasons")]


class ScreenRead(BaseModel):
    id: Annotated[str, Field(title="Id")]
    venue_id: Annotated[str, Field(title="Venue Id")]
    org_id: Annotated[str, Field(title="Org Id")]
    name: Annotated[str, Field(title="Name")]
    width_px: Annotated[int, Field(title="Width Px")]
    height_px: Annotated[int, Field(title="Height Px")]
    orientation: Annotated[Literal["landscape", "portrait"], Field(title="Orientation")]
    audience_multiplier: Annotated[float, Field(title="Audience Multiplier")]
    audience_source: Annotated[str, Field(title="Audience Source")]
    status: Annotated[
        str, Field(description="online | offline | unpaired", title="Status")
    ]
    last_seen_at: Annotated[AwareDatetime | None, Field(title="Last Seen At")] = None
    now_playing: Annotated[dict[str, Any] | None, Field(title="Now Playing")] = None
    agent_version: Annotated[str | None, Field(title="Agent Version")] = None
    last_screenshot_url: Annotated[
        str | None,
        Field(
            description="The latest screenshot command's picture (signed URL)",
            title="Last Screenshot Url",
        ),
    ] = None
    created_at: Annotated[AwareDatetime, Field(title="Created At")]


class WidthPx(RootModel[int]):
    root: Annotated[int, Field(ge=160, le=8192, title="Width Px")]


class HeightPx(RootModel[int]):
    root: Annotated[int, Field(ge=160, le=8192, title="Height Px")]


class AudienceMultiplier(RootModel[float]):
    root: Annotated[float, Field(gt=0.0, le=10000.0, title="Audience Multiplier")]


class ScreenUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    name: Annotated[
        Annotated[str, StringConstraints(min_length=1, max_length=200)] | None,
        Field(title="Name"),
    ] = None
    width_px: Annotated[WidthPx | None, Field(title="Width Px")] = None
    height_px: Annotated[HeightPx | None, Field(title="Height Px")] = None
    orientation: Literal["landscape", "portrait"] | None = None
    audience_multiplier: Annotated[
        AudienceMultiplier | None, Field(title="Audience Multiplier")
    ] = None
    audience_source: Annotated[
        Annotated[str, StringConstraints(max_length=200)] | None,
        Field(title="Audience Source"),
    ] = None


class Segment(BaseModel):
    """
    People in any of these age bands and of any of these genders (none listed: any).
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    age_bands: Annotated[
        list[str],
        Field(
            description="At least one of 18-24, 25-34, 35-44, 45-54, 55-64, 65+",
            examples=[["18-24", "25-34"]],
            max_length=6,
            title="Age Bands",
        ),
    ]
    genders: Annotated[
        list[str] | None,
        Field(
            description="Any of female, male, other; empty: any gender",
            examples=[["female"]],
            max_length=3,
            title="Genders",
        ),
    ] = None


class SignupRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    email: Annotated[EmailStr, Field(title="Email")]
    password: Annotated[
        str,
        Field(
            description="At least 10 characters",
            max_length=256,
            min_length=10,
            title="Password",
        ),
    ]
    name: Annotated[str, Field(max_length=200, min_length=1, title="Name")]
    org_name: Annotated[str, Field(max_length=200, min_length=1, title="Org Name")]
    org_kind: Annotated[Literal["advertiser", "venue"], Field(title="Org Kind")]


class SkippedBalance(BaseModel):
    """
    A balance a run left for a later one.
    """

    venue_org_id: Annotated[str, Field(title="Venue Org Id")]
    currency: Annotated[str, Field(title="Currency")]
    balance_cents: Annotated[int, Field(title="Balance Cents")]
    reason: Annotated[str, Field(title="Reason")]


class StatementLineRead(BaseModel):
    id: Annotated[str, Field(title="Id")]
    cycle_id: Annotated[str, Field(title="Cycle Id")]
    invoice_id: Annotated[str, Field(title="Invoice Id")]
    venue_id: Annotated[str, Field(title="Venue Id")]
    screen_id: Annotated[str, Field(title="Screen Id")]
    campaign_id: Annotated[str, Field(title="Campaign Id")]
    policy_version: Annotated[int, Field(title="Policy Version")]
    bps: Annotated[int, Field(title="Bps")]
    plays: Annotated[int, Field(title="Plays")]
    impressions: Annotated[float, Field(title="Impressions")]
    revenue_cents: Annotated[int, Field(title="Revenue Cents")]
    earnings_cents: Annotated[int, Field(title="Earnings Cents")]
    status: Annotated[str, Field(title="Status")]
    payout_id: Annotated[str | None, Field(title="Payout Id")]


class StatementScreen(BaseModel):
    screen_id: Annotated[str, Field(title="Screen Id")]
    plays: Annotated[int, Field(title="Plays")]
    impressions: Annotated[float, Field(title="Impressions")]
    revenue_cents: Annotated[int, Field(title="Revenue Cents")]
    earnings_cents: Annotated[int, Field(title="Earnings Cents")]
    policy_versions: Annotated[list[int], Field(title="Policy Versions")]


class StatementVenue(BaseModel):
    venue_id: Annotated[str, Field(title="Venue Id")]
    earnings_cents: Annotated[int, Field(title="Earnings Cents")]
    screens: Annotated[list[StatementScreen], Field(title="Screens")]


class TimelineItem(BaseModel):
    kind: Annotated[str, Field(title="Kind")]
    campaign_id: Annotated[str | None, Field(title="Campaign Id")]
    creative_id: Annotated[str, Field(title="Creative Id")]
    duration_s: Annotated[int, Field(title="Duration S")]
    slots: Annotated[int, Field(title="Slots")]


class TimelineWindow(BaseModel):
    start: Annotated[AwareDatetime, Field(title="Start")]
    end: Annotated[AwareDatetime, Field(title="End")]
    loop: Annotated[list[TimelineItem], Field(title="Loop")]
    explain: Annotated[list[str], Field(title="Explain")]


class TokenOnly(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    token: Annotated[
        str,
        Field(
            description="from the emailed link",
            max_length=300,
            min_length=1,
            title="Token",
        ),
    ]


class TokenRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    email: Annotated[EmailStr, Field(title="Email")]
    password: Annotated[str, Field(max_length=256, title="Password")]
    org_id: Annotated[
        Annotated[str, StringConstraints(max_length=40)] | None,
        Field(
            description="The org to act in; default: the first membership",
            title="Org Id",
        ),
    ] = None


class TokenResponse(BaseModel):
    access_token: Annotated[str, Field(title="Access Token")]
    token_type: Annotated[Literal["bearer"], Field(title="Token Type")] = "bearer"
    expires_in: Annotated[int, Field(title="Expires In")]


class TrackedLinkIn(BaseModel):
    """
    Where the campaign's short link leads (checked: `urls.py`).
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    landing_url: Annotated[
        str,
        Field(
            description="An absolute http(s) URL with a host and no user:password@, at most 2,000 characters of printable ASCII",
            max_length=4000,
            title="Landing Url",
        ),
    ]


class TrackedLinkRead(BaseModel):
    """
    A campaign's tracked link: the short URL to print, and where it leads.
    """

    id: Annotated[str, Field(title="Id")]
    campaign_id: Annotated[str, Field(title="Campaign Id")]
    code: Annotated[str, Field(title="Code")]
    short_url: Annotated[str, Field(title="Short Url")]
    landing_url: Annotated[str, Field(title="Landing Url")]
    qr_png_url: Annotated[str, Field(title="Qr Png Url")]
    qr_svg_url: Annotated[str, Field(title="Qr Svg Url")]
    enabled: Annotated[bool, Field(title="Enabled")]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]
    updated_at: Annotated[AwareDatetime, Field(title="Updated At")]
    disabled_at: Annotated[AwareDatetime | None, Field(title="Disabled At")]
    scans: Annotated[
        int,
        Field(
            description="Scans counted so far (HEAD requests and link previews are not)",
            title="Scans",
        ),
    ]


class UploadComplete(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    filename: Annotated[str, Field(max_length=255, title="Filename")] = ""
    fit: Annotated[Literal["letterbox", "cover"], Field(title="Fit")] = "letterbox"


class UploadCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    filename: Annotated[str, Field(max_length=255, title="Filename")] = ""
    content_type: Annotated[
        Annotated[str, StringConstraints(max_length=100)] | None,
        Field(title="Content Type"),
    ] = None


class UploadTicket(BaseModel):
    upload_id: Annotated[str, Field(title="Upload Id")]
    url: Annotated[
        str,
        Field(description="PUT the file's bytes here before it expires", title="Url"),
    ]
    method: Annotated[str, Field(title="Method")] = "PUT"
    headers: Annotated[dict[str, str], Field(title="Headers")]
    expires_at: Annotated[AwareDatetime, Field(title="Expires At")]


class UserRead(BaseModel):
    id: Annotated[str, Field(title="Id")]
    email: Annotated[str | None, Field(title="Email")]
    name: Annotated[str, Field(title="Name")]
    status: Annotated[str, Field(title="Status")]
    is_superadmin: Annotated[bool, Field(title="Is Superadmin")]
    email_verified_at: Annotated[
        AwareDatetime | None,
        Field(
            description="When the address was confirmed; until then the user may sign in but not buy or be paid",
            title="Email Verified At",
        ),
    ] = None
    created_at: Annotated[AwareDatetime, Field(title="Created At")]


class VapidPublicKey(BaseModel):
    public_key: Annotated[
        str,
        Field(
            description="the applicationServerKey for pushManager.subscribe (uncompressed P-256 point, base64url)",
            title="Public Key",
        ),
    ]


class VenueCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    name: Annotated[str, Field(max_length=200, min_length=1, title="Name")]
    public_name: Annotated[
        Annotated[str, StringConstraints(max_length=200)] | None,
        Field(
            description="The name advertisers see when they look for where to buy; none: advertisers see the venue only by its type and area, never its name or ids",
            title="Public Name",
        ),
    ] = None
    address: Annotated[str, Field(max_length=500, title="Address")] = ""
    lat: Annotated[float, Field(ge=-90.0, le=90.0, title="Lat")]
    lon: Annotated[float, Field(ge=-180.0, le=180.0, title="Lon")]
    timezone: Annotated[
        str, Field(examples=["Europe/Paris"], max_length=64, title="Timezone")
    ]
    venue_type_id: Annotated[
        int,
        Field(
            description="An OpenOOH enumeration id (GET /v1/venue-types)",
            title="Venue Type Id",
        ),
    ]
    opening_hours: Annotated[
        dict[str, Any] | None,
        Field(examples=[{"mon": [["08:00", "23:00"]]}], title="Opening Hours"),
    ] = None
    blocked_categories: Annotated[
        list[str] | None,
        Field(
            description="IAB Ad Product Taxonomy 2.0 ids",
            max_length=600,
            title="Blocked Categories",
        ),
    ] = None
    moderation: Annotated[
        Literal["auto", "manual"],
        Field(
            description="auto: every approved ad may play; manual: the venue approves each advertiser or creative (GET /v1/moderation/queue)",
            title="Moderation",
        ),
    ] = "auto"
    house_media_ids: Annotated[
        list[str] | None,
        Field(
            description="Ready media of the venue's org played in unsold slots",
            max_length=50,
            title="House Media Ids",
        ),
    ] = None


class VenueRead(BaseModel):
    id: Annotated[str, Field(title="Id")]
    org_id: Annotated[str, Field(title="Org Id")]
    name: Annotated[str, Field(title="Name")]
    public_name: Annotated[str | None, Field(title="Public Name")]
    address: Annotated[str, Field(title="Address")]
    lat: Annotated[float, Field(title="Lat")]
    lon: Annotated[float, Field(title="Lon")]
    timezone: Annotated[str, Field(title="Timezone")]
    venue_type_id: Annotated[int, Field(title="Venue Type Id")]
    opening_hours: Annotated[dict[str, Any], Field(title="Opening Hours")]
    blocked_categories: Annotated[list[str], Field(title="Blocked Categories")]
    moderation: Annotated[str, Field(title="Moderation")]
    house_media_ids: Annotated[list[str], Field(title="House Media Ids")]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]


class VenueShare(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    venue_id: Annotated[str, Field(max_length=40, min_length=1, title="Venue Id")]
    bps: Annotated[int, Field(ge=0, le=10000, title="Bps")]


class VenueTypeRead(BaseModel):
    id: Annotated[int, Field(title="Id")]
    name: Annotated[str, Field(title="Name")]
    string_value: Annotated[str, Field(title="String Value")]
    parent_id: Annotated[int | None, Field(title="Parent Id")]
    description: Annotated[str, Field(title="Description")]


class Lat(RootModel[float]):
    root: Annotated[float, Field(ge=-90.0, le=90.0, title="Lat")]


class Lon(RootModel[float]):
    root: Annotated[float, Field(ge=-180.0, le=180.0, title="Lon")]


class BlockedCategories(RootModel[list[str]]):
    root: Annotated[list[str], Field(max_length=600, title="Blocked Categories")]


class HouseMediaIds(RootModel[list[str]]):
    root: Annotated[list[str], Field(max_length=50, title="House Media Ids")]


class VenueUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    name: Annotated[
        Annotated[str, StringConstraints(min_length=1, max_length=200)] | None,
        Field(title="Name"),
    ] = None
    public_name: Annotated[
        Annotated[str, StringConstraints(max_length=200)] | None,
        Field(
            description="Empty: stop showing a name to advertisers", title="Public Name"
        ),
    ] = None
    address: Annotated[
        Annotated[str, StringConstraints(max_length=500)] | None, Field(title="Address")
    ] = None
    lat: Annotated[Lat | None, Field(title="Lat")] = None
    lon: Annotated[Lon | None, Field(title="Lon")] = None
    timezone: Annotated[
        Annotated[str, StringConstraints(max_length=64)] | None, Field(title="Timezone")
    ] = None
    venue_type_id: Annotated[int | None, Field(title="Venue Type Id")] = None
    opening_hours: Annotated[dict[str, Any] | None, Field(title="Opening Hours")] = None
    blocked_categories: Annotated[
        BlockedCategories | None, Field(title="Blocked Categories")
    ] = None
    moderation: Annotated[
        Literal["auto", "manual"] | None, Field(title="Moderation")
    ] = None
    house_media_ids: Annotated[HouseMediaIds | None, Field(title="House Media Ids")] = (
        None
    )


class WebhookAck(BaseModel):
    received: Annotated[bool, Field(title="Received")] = True
    duplicate: Annotated[bool, Field(title="Duplicate")] = False
    handled: Annotated[bool, Field(title="Handled")] = True


class AdCategoryPage(BaseModel):
    source: Annotated[str, Field(title="Source")] = (
        "IAB Tech Lab Ad Product Taxonomy 2.0 (CC BY 3.0)"
    )
    items: Annotated[list[AdCategoryRead], Field(title="Items")]


class ApiKeyPage(BaseModel):
    items: Annotated[list[ApiKeyRead], Field(title="Items")]


class AudienceTargeting(BaseModel):
    """
    Who the campaign is for: one minimum share for the union of its segments.

    One `min_share` for all the segments, not one per segment: "18-34 women or 55+ men are at
    least 30 % of viewers" is what an advertiser buys; a share per segment would ask for
    several audiences at once, which API.md's "segments with a minimum share" does not.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    segments: Annotated[
        list[Segment], Field(max_length=20, min_length=1, title="Segments")
    ]
    min_share: Annotated[
        float,
        Field(
            description="Of the viewers at a screen and time (0 < x ≤ 1)",
            examples=[0.3],
            gt=0.0,
            le=1.0,
            title="Min Share",
        ),
    ]


class BodyUploadV1MediaPost(BaseModel):
    file: Annotated[
        str,
        Field(
            description="The image or video",
            json_schema_extra={"contentMediaType": "application/octet-stream"},
            title="File",
        ),
    ]
    fit: Annotated[Literal["letterbox", "cover"], Field(title="Fit")] = "letterbox"


class Dayparts(RootModel[list[Daypart]]):
    root: Annotated[list[Daypart], Field(max_length=50, title="Dayparts")]


class ErrorBody(BaseModel):
    """
    The error body of API.md.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    error: ErrorInfo


class InvitationCreated(BaseModel):
    """
    The same answer whether or not the address has an account.
    """

    id: Annotated[str, Field(title="Id")]
    org_id: Annotated[str, Field(title="Org Id")]
    email: Annotated[str, Field(title="Email")]
    role: Annotated[Literal["admin", "member", "technician"], Field(title="Role")]
    status: Annotated[Literal["pending"], Field(title="Status")] = "pending"
    expires_at: Annotated[AwareDatetime, Field(title="Expires At")]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]
    invited: Annotated[bool, Field(title="Invited")] = True
    invite_token: Annotated[
        str,
        Field(
            description="Shown once, and mailed to the address: the invitee joins with it at POST /v1/auth/invitations/accept (the link in the email opens a page that does it)",
            title="Invite Token",
        ),
    ]


class InvitationRead(BaseModel):
    id: Annotated[str, Field(title="Id")]
    org_id: Annotated[str, Field(title="Org Id")]
    email: Annotated[str, Field(title="Email")]
    role: Annotated[Literal["admin", "member", "technician"], Field(title="Role")]
    status: Annotated[Literal["pending"], Field(title="Status")] = "pending"
    expires_at: Annotated[AwareDatetime, Field(title="Expires At")]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]


class InvoicePage(BaseModel):
    invoices: Annotated[list[InvoiceRead], Field(title="Invoices")]


class MediaRead(BaseModel):
    id: Annotated[str, Field(title="Id")]
    org_id: Annotated[str, Field(title="Org Id")]
    sha256: Annotated[str, Field(title="Sha256")]
    kind: Annotated[str, Field(title="Kind")]
    mime: Annotated[str, Field(title="Mime")]
    size_bytes: Annotated[int, Field(title="Size Bytes")]
    filename: Annotated[str, Field(title="Filename")]
    fit: Annotated[Literal["letterbox", "cover"], Field(title="Fit")]
    status: Annotated[
        Literal["processing", "ready", "failed"], Field(title="MediaStatus")
    ]
    error: MediaError | None
    metadata: Annotated[
        dict[str, Any],
        Field(
            description="What probing found: dimensions, codecs, duration, rotation",
            title="Metadata",
        ),
    ]
    renditions: Annotated[list[RenditionRead], Field(title="Renditions")]
    job: Annotated[JobRead | None, Field(description="The latest processing job")]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]


class MemberCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    email: Annotated[EmailStr, Field(title="Email")]
    role: Annotated[Literal["admin", "member", "technician"], Field(title="Role")] = (
        "member"
    )
    name: Annotated[str, Field(max_length=200, title="Name")] = ""


class MemberRead(BaseModel):
    user: UserRead
    role: Annotated[Literal["admin", "member", "technician"], Field(title="Role")]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]


class MemberUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    role: Annotated[Literal["admin", "member", "technician"], Field(title="Role")]


class MembershipRead(BaseModel):
    org: OrgRead
    role: Annotated[Literal["admin", "member", "technician"], Field(title="Role")]


class NotificationPage(BaseModel):
    notifications: Annotated[list[NotificationRead], Field(title="Notifications")]
    unread: Annotated[int, Field(title="Unread")]


class OfferRead(BaseModel):
    venue_type_id: Annotated[int, Field(title="Venue Type Id")]
    venue_type: Annotated[str, Field(title="Venue Type")]
    area: AreaRead
    public_name: Annotated[
        str | None,
        Field(
            description="Only if the venue's owner publishes one", title="Public Name"
        ),
    ]
    venues: Annotated[int, Field(title="Venues")]
    screens: Annotated[int, Field(title="Screens")]
    eligible_screens: Annotated[int, Field(title="Eligible Screens")]
    reasons: Annotated[
        list[ReasonCount],
        Field(
            description="Why not on the other screens, and on how many", title="Reasons"
        ),
    ]


class OrgPage(BaseModel):
    items: Annotated[list[OrgRead], Field(title="Items")]


class PayoutPage(BaseModel):
    payouts: Annotated[list[PayoutRead], Field(title="Payouts")]


class PayoutRunResult(BaseModel):
    payouts: Annotated[
        list[PayoutRead],
        Field(description="the payouts made or finished by this run", title="Payouts"),
    ]
    skipped: Annotated[
        list[SkippedBalance],
        Field(description="balances carried over, and why", title="Skipped"),
    ]


class Playlist(BaseModel):
    """
    What one screen plays over the horizon.
    """

    schema_: Annotated[
        Literal["adsbin.playlist/v1"], Field(alias="schema", title="Schema")
    ] = "adsbin.playlist/v1"
    screen_id: Annotated[str, Field(title="Screen Id")]
    version: Annotated[str, Field(title="Version")] = ""
    generated_at: Annotated[AwareDatetime, Field(title="Generated At")]
    valid_from: Annotated[AwareDatetime, Field(title="Valid From")]
    valid_until: Annotated[AwareDatetime, Field(title="Valid Until")]
    loop_s: Annotated[int, Field(title="Loop S")]
    slot_s: Annotated[int, Field(title="Slot S")]
    media: Annotated[list[PlaylistMedia], Field(title="Media")]
    timeline: Annotated[list[PlaylistWindow], Field(title="Timeline")]
    house: Annotated[
        list[PlaylistItem] | None,
        Field(description="What to play outside the timeline", title="House"),
    ] = None


class PolicyIn(BaseModel):
    """
    A new version of the policy. Without `effective_from`: from the next whole UTC hour.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    default_bps: Annotated[
        int,
        Field(
            description="venues' share, in basis points",
            ge=0,
            le=10000,
            title="Default Bps",
        ),
    ]
    venue_overrides: Annotated[
        list[VenueShare] | None, Field(max_length=10000, title="Venue Overrides")
    ] = None
    effective_from: Annotated[AwareDatetime | None, Field(title="Effective From")] = (
        None
    )


class PolicyRead(BaseModel):
    version: Annotated[int, Field(title="Version")]
    default_bps: Annotated[int, Field(title="Default Bps")]
    venue_overrides: Annotated[list[VenueShare], Field(title="Venue Overrides")]
    effective_from: Annotated[AwareDatetime, Field(title="Effective From")]
    created_at: Annotated[AwareDatetime | None, Field(title="Created At")]
    source: Annotated[
        str,
        Field(
            description="`policy` (set by a super-admin) or `default` (the ADSBIN_REVENUE_DEFAULT_BPS setting, before any policy)",
            title="Source",
        ),
    ]


class PopReceipt(BaseModel):
    """
    The server's answer: everything in the batch is now accepted, a duplicate or rejected.
    """

    accepted: Annotated[int, Field(title="Accepted")]
    duplicates: Annotated[int, Field(title="Duplicates")]
    rejected: Annotated[list[PopRejection] | None, Field(title="Rejected")] = None


class QueueItem(BaseModel):
    item_id: Annotated[str, Field(title="Item Id")]
    venue_id: Annotated[str, Field(title="Venue Id")]
    venue_name: Annotated[str, Field(title="Venue Name")]
    campaign_id: Annotated[str, Field(title="Campaign Id")]
    campaign_name: Annotated[str, Field(title="Campaign Name")]
    advertiser_id: Annotated[str, Field(title="Advertiser Id")]
    advertiser_name: Annotated[
        str, Field(description="The advertiser's org name", title="Advertiser Name")
    ]
    category: Annotated[CategoryRead, Field(description="The campaign's category")]
    creative_id: Annotated[str, Field(title="Creative Id")]
    media_id: Annotated[str, Field(title="Media Id")]
    kind: Annotated[str, Field(description="image | video", title="Kind")]
    duration_s: Annotated[
        int, Field(description="How long the ad plays each time", title="Duration S")
    ]
    thumbnail_url: Annotated[
        str | None,
        Field(
            description="A signed URL of a small still of the ad, until urls_expire_at; None until processed",
            title="Thumbnail Url",
        ),
    ]
    renditions: Annotated[
        list[RenditionRead],
        Field(
            description="Every version of the ad as screens play it, each with a signed URL",
            title="Renditions",
        ),
    ]
    urls_expire_at: Annotated[AwareDatetime, Field(title="Urls Expire At")]


class ReconciliationRead(BaseModel):
    period_start: Annotated[AwareDatetime, Field(title="Period Start")]
    period_end: Annotated[AwareDatetime, Field(title="Period End")]
    cycles: Annotated[int, Field(title="Cycles")]
    currencies: Annotated[list[ReconciliationRow], Field(title="Currencies")]
    trace_url: Annotated[str, Field(title="Trace Url")]


class ScreenPage(BaseModel):
    items: Annotated[list[ScreenRead], Field(title="Items")]


class SignupResponse(BaseModel):
    access_token: Annotated[str, Field(title="Access Token")]
    token_type: Annotated[Literal["bearer"], Field(title="Token Type")] = "bearer"
    expires_in: Annotated[int, Field(title="Expires In")]
    user: UserRead
    org: OrgRead


class Statement(BaseModel):
    """
    A venue org's earnings for a period, per currency.
    """

    venue_org_id: Annotated[str, Field(title="Venue Org Id")]
    currency: Annotated[str, Field(title="Currency")]
    period_start: Annotated[AwareDatetime, Field(title="Period Start")]
    period_end: Annotated[AwareDatetime, Field(title="Period End")]
    earnings_cents: Annotated[int, Field(title="Earnings Cents")]
    by_status: Annotated[dict[str, int], Field(title="By Status")]
    venues: Annotated[list[StatementVenue], Field(title="Venues")]
    lines: Annotated[list[StatementLineRead], Field(title="Lines")]


class StatementPage(BaseModel):
    statements: Annotated[list[Statement], Field(title="Statements")]


class Targeting(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    venue_type_ids: Annotated[
        list[int] | None,
        Field(
            description="OpenOOH ids; a parent matches descendants",
            max_length=200,
            title="Venue Type Ids",
        ),
    ] = None
    geo: Geo | None = None
    screen_ids: Annotated[
        list[str] | None, Field(max_length=10000, title="Screen Ids")
    ] = None
    audience: Annotated[
        AudienceTargeting | None,
        Field(
            description="Play only where and when the segments (together: a viewer in any of them counts once) are at least `min_share` of the viewers, by the screen's audience profile. A screen without a profile, or a time its profile does not describe, never qualifies."
        ),
    ] = None


class Timeline(BaseModel):
    screen_id: Annotated[str, Field(title="Screen Id")]
    planned_at: Annotated[
        AwareDatetime,
        Field(
            description="When the plan shown was made: by the last build that published the screen's playlist, or now while a change waits for its rebuild",
            title="Planned At",
        ),
    ]
    windows: Annotated[list[TimelineWindow], Field(title="Windows")]
    exclusions: Annotated[dict[str, list[str]], Field(title="Exclusions")]


class VenuePage(BaseModel):
    items: Annotated[list[VenueRead], Field(title="Items")]


class VenueTypePage(BaseModel):
    source: Annotated[str, Field(title="Source")] = (
        "OpenOOH Venue Taxonomy 1.1 (Apache-2.0)"
    )
    items: Annotated[list[VenueTypeRead], Field(title="Items")]


class CampaignCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    name: Annotated[str, Field(max_length=200, min_length=1, title="Name")]
    category: Annotated[
        str,
        Field(
            description="IAB Ad Product Taxonomy 2.0 id",
            max_length=20,
            title="Category",
        ),
    ]
    start_at: Annotated[AwareDatetime, Field(title="Start At")]
    end_at: Annotated[AwareDatetime, Field(title="End At")]
    dayparts: Annotated[
        list[Daypart] | None,
        Field(description="Empty: all day", max_length=50, title="Dayparts"),
    ] = None
    targeting: Targeting | None = None
    budget_cents: Annotated[int, Field(gt=0, le=1000000000000, title="Budget Cents")]
    cpm_cents: Annotated[
        int,
        Field(
            description="Price per thousand impressions",
            gt=0,
            le=1000000000,
            title="Cpm Cents",
        ),
    ]
    currency: Annotated[
        str, Field(examples=["EUR"], pattern="^[A-Z]{3}$", title="Currency")
    ]
    pacing: Annotated[Literal["even", "asap"], Field(title="Pacing")] = "even"
    max_plays_per_hour: Annotated[
        MaxPlaysPerHour | None, Field(title="Max Plays Per Hour")
    ] = None
    share_of_voice: Annotated[
        ShareOfVoice | None,
        Field(
            description="The most of each screen's loop the campaign takes (0 < x ≤ 1). It never overrides pacing: with `even` pacing the budget's even spread over the flight bounds what it spends per hour, so it gets the smaller of the two; with `asap` it takes up to this share until the budget is spent.",
            title="Share Of Voice",
        ),
    ] = None


class CampaignEligibility(BaseModel):
    campaign_id: Annotated[str, Field(title="Campaign Id")]
    screens_total: Annotated[int, Field(title="Screens Total")]
    eligible_screens: Annotated[int, Field(title="Eligible Screens")]
    inventory: Annotated[
        list[OfferRead],
        Field(description="The network by venue type and area", title="Inventory"),
    ]
    screens: Annotated[
        list[ScreenEligibility] | None,
        Field(
            description="Super-admins only: every screen, by id, with its venue's name",
            title="Screens",
        ),
    ] = None


class CampaignRead(BaseModel):
    name: Annotated[str, Field(max_length=200, min_length=1, title="Name")]
    category: Annotated[
        str,
        Field(
            description="IAB Ad Product Taxonomy 2.0 id",
            max_length=20,
            title="Category",
        ),
    ]
    start_at: Annotated[AwareDatetime, Field(title="Start At")]
    end_at: Annotated[AwareDatetime, Field(title="End At")]
    dayparts: Annotated[
        list[Daypart] | None,
        Field(description="Empty: all day", max_length=50, title="Dayparts"),
    ] = None
    targeting: Targeting | None = None
    budget_cents: Annotated[int, Field(gt=0, le=1000000000000, title="Budget Cents")]
    cpm_cents: Annotated[
        int,
        Field(
            description="Price per thousand impressions",
            gt=0,
            le=1000000000,
            title="Cpm Cents",
        ),
    ]
    currency: Annotated[
        str, Field(examples=["EUR"], pattern="^[A-Z]{3}$", title="Currency")
    ]
    pacing: Annotated[Literal["even", "asap"], Field(title="Pacing")] = "even"
    max_plays_per_hour: Annotated[
        MaxPlaysPerHour | None, Field(title="Max Plays Per Hour")
    ] = None
    share_of_voice: Annotated[
        ShareOfVoice | None,
        Field(
            description="The most of each screen's loop the campaign takes (0 < x ≤ 1). It never overrides pacing: with `even` pacing the budget's even spread over the flight bounds what it spends per hour, so it gets the smaller of the two; with `asap` it takes up to this share until the budget is spent.",
            title="Share Of Voice",
        ),
    ] = None
    id: Annotated[str, Field(title="Id")]
    org_id: Annotated[str, Field(title="Org Id")]
    state: Annotated[
        str,
        Field(
            description="draft | pending_review | approved | rejected | active | paused | completed",
            title="State",
        ),
    ]
    review_note: Annotated[str | None, Field(title="Review Note")]
    creatives: Annotated[list[CreativeRead], Field(title="Creatives")]
    submitted_at: Annotated[AwareDatetime | None, Field(title="Submitted At")]
    reviewed_at: Annotated[AwareDatetime | None, Field(title="Reviewed At")]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]
    plays: Annotated[
        int,
        Field(
            description="Plays stored so far (proof of play), billable or not",
            title="Plays",
        ),
    ] = 0
    billable_plays: Annotated[
        int,
        Field(
            description="Plays that count: eligible, completed, long enough",
            title="Billable Plays",
        ),
    ] = 0
    impressions: Annotated[
        float,
        Field(
            description="Billable plays × each screen's audience multiplier at the time",
            title="Impressions",
        ),
    ] = 0.0
    target_impressions: Annotated[
        float | None,
        Field(
            description="Of the impressions, those of the audience the campaign targets: each play's × the targeted segments' share of the viewers of the audience-profile daypart that counted it (none from a screen's flat multiplier: nothing says who watched), by the target in force when the play arrived. Null for a campaign without an audience target (all its impressions are its audience)",
            title="Target Impressions",
        ),
    ] = None
    spend_cents: Annotated[
        int,
        Field(
            description="What the impressions cost at the CPM, never more than the budget",
            title="Spend Cents",
        ),
    ] = 0


class CampaignUpdate(BaseModel):
    """
    Fields to change; a non-draft campaign goes back to review.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    name: Annotated[
        Annotated[str, StringConstraints(min_length=1, max_length=200)] | None,
        Field(title="Name"),
    ] = None
    category: Annotated[
        Annotated[str, StringConstraints(max_length=20)] | None, Field(title="Category")
    ] = None
    start_at: Annotated[AwareDatetime | None, Field(title="Start At")] = None
    end_at: Annotated[AwareDatetime | None, Field(title="End At")] = None
    dayparts: Annotated[Dayparts | None, Field(title="Dayparts")] = None
    targeting: Targeting | None = None
    budget_cents: Annotated[BudgetCents | None, Field(title="Budget Cents")] = None
    cpm_cents: Annotated[CpmCents | None, Field(title="Cpm Cents")] = None
    pacing: Annotated[Literal["even", "asap"] | None, Field(title="Pacing")] = None
    max_plays_per_hour: Annotated[
        MaxPlaysPerHour | None, Field(title="Max Plays Per Hour")
    ] = None
    share_of_voice: Annotated[
        ShareOfVoice | None,
        Field(
            description="The most of each screen's loop the campaign takes (0 < x ≤ 1). It never overrides pacing: with `even` pacing the budget's even spread over the flight bounds what it spends per hour, so it gets the smaller of the two; with `asap` it takes up to this share until the budget is spent.",
            title="Share Of Voice",
        ),
    ] = None


class InvitationPage(BaseModel):
    items: Annotated[list[InvitationRead], Field(title="Items")]


class MeResponse(BaseModel):
    user: UserRead
    org_id: Annotated[
        str | None, Field(description="The org this token acts in", title="Org Id")
    ]
    role: Annotated[str | None, Field(title="Role")]
    memberships: Annotated[list[MembershipRead], Field(title="Memberships")]


class MediaPage(BaseModel):
    items: Annotated[list[MediaRead], Field(title="Items")]


class MemberPage(BaseModel):
    items: Annotated[list[MemberRead], Field(title="Items")]


class ModerationQueue(BaseModel):
    items: Annotated[list[QueueItem], Field(title="Items")]


class PolicyPage(BaseModel):
    """
    The version in force now, the versions scheduled after it, and (super-admins) all.
    """

    current: PolicyRead
    scheduled: Annotated[list[PolicyRead], Field(title="Scheduled")]
    history: Annotated[list[PolicyRead], Field(title="History")]


class CampaignPage(BaseModel):
    items: Annotated[list[CampaignRead], Field(title="Items")]
