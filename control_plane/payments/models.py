"""What the offline payment provider would have sent: one row per call, readable by super-admins."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.db import Base, UTCDateTime, id_column_type, new_id, utcnow


class PaymentCall(Base):
    """A call the offline provider recorded instead of making (its key makes it idempotent)."""

    __tablename__ = "payment_calls"

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("pcall"))
    idempotency_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    operation: Mapped[str] = mapped_column(String(60))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    result_id: Mapped[str | None] = mapped_column(String(80), index=True)
    parent_id: Mapped[str | None] = mapped_column(String(80), index=True)  # an item's invoice
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
