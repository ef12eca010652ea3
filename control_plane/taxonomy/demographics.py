"""The demographic vocabulary audiences are described and targeted in.

Venues describe who watches their screens as shares of these age bands and genders
(`venues/audience.py`); campaigns target segments named with the same words
(`campaigns/schemas.py`). Both read them here, a floor below either, so the two can never
disagree on a name.
"""

from __future__ import annotations

AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
GENDERS = ("female", "male", "other")
