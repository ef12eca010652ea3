"""The ADSBIN player agent: pairs with a code, syncs its playlist over HTTP and MQTT, caches
media, plays it gaplessly with python-vlc (or the null renderer), keeps playing offline, and
reports proof of play that is journaled on disk, signed, and deleted only once acknowledged.

It imports only `shared/` from the rest of ADSBIN."""

__version__ = "0.1.0"
