"""Settings of the player agent: command-line flags over `ADSBIN_AGENT_*` variables over the
config file that `adsbin provision enroll` writes, over defaults.

Timing constants a person might tune live here with unit suffixes; the tests shrink them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    JsonConfigSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from shared.agent import CONFIG_FILE, DEFAULT_STATE_DIR


class AgentSettings(BaseSettings):
    """Everything the agent can be told."""

    model_config = SettingsConfigDict(env_prefix="ADSBIN_AGENT_", env_file=None, extra="ignore")

    server_url: str = "http://127.0.0.1:8000"
    state_dir: Path = DEFAULT_STATE_DIR
    renderer: Literal["vlc", "null"] = "vlc"
    headless: bool | None = Field(None, description="None: headless when there is no display")
    rotation_deg: Literal[0, 90, 180, 270] = 0
    display_width_px: int | None = Field(None, ge=1, le=16384)
    display_height_px: int | None = Field(None, ge=1, le=16384)
    cache_quota_bytes: int = Field(8 * 1024**3, ge=0)
    max_parallel_downloads: int = Field(2, ge=1, le=16)
    poll_interval_s: float = Field(60.0, gt=0)
    poll_jitter_s: float = Field(10.0, ge=0)
    heartbeat_interval_s: float = Field(30.0, gt=0)
    clock_check_interval_s: float = Field(600.0, gt=0)
    pop_upload_interval_s: float = Field(10.0, gt=0)
    pop_batch_size: int = Field(500, ge=1, le=1000)
    journal_max_records: int = Field(200_000, ge=10)
    retry_min_s: float = Field(1.0, gt=0)
    retry_max_s: float = Field(60.0, gt=0)
    stall_s: float = Field(10.0, gt=0, description="No playback progress this long: restart")
    start_timeout_s: float = Field(10.0, gt=0)
    identify_s: float = Field(15.0, gt=0)
    card_s: float = Field(10.0, gt=0, description="How long a built-in card shows at a time")
    reboot_command: list[str] = Field(default_factory=lambda: ["systemctl", "reboot"])
    vlc_options: list[str] = Field(default_factory=list, description="Extra libvlc options")
    log_level: str = "INFO"

    def is_headless(self) -> bool:
        """Whether to render without a window: as told, else when there is no display."""
        if self.headless is not None:
            return self.headless
        return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def load_settings(config_file: Path | None = None, **overrides: Any) -> AgentSettings:
    """Settings from flags (`overrides`, None means not given), the environment and the file."""
    path = config_file or (CONFIG_FILE if CONFIG_FILE.is_file() else None)
    given = {k: v for k, v in overrides.items() if v is not None}
    if path is None:
        return AgentSettings(**given)

    class FromFile(AgentSettings):
        @classmethod
        def settings_customise_sources(
            cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return init_settings, env_settings, JsonConfigSettingsSource(settings_cls,
                                                                         json_file=path)

    return AgentSettings.model_validate(FromFile(**given).model_dump())
