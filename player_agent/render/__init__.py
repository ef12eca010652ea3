"""Renderers behind one small interface (`MediaPlayer`): python-vlc, and a null one for
simulation and tests. `make_player` picks one from the settings."""

from __future__ import annotations

from player_agent.render.base import Event, MediaPlayer, Playable, RendererUnavailable
from player_agent.settings import AgentSettings

__all__ = ["Event", "MediaPlayer", "Playable", "RendererUnavailable", "make_player"]


def make_player(settings: AgentSettings) -> MediaPlayer:
    """The renderer the settings name."""
    if settings.renderer == "null":
        from player_agent.render.null import NullPlayer

        return NullPlayer()
    from player_agent.render.vlc import VlcPlayer

    return VlcPlayer(headless=settings.is_headless(), rotation_deg=settings.rotation_deg,
                     extra_options=settings.vlc_options)
