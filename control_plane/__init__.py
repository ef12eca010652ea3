"""ADSBIN control plane: the FastAPI modular monolith (api, worker and scheduler roles)."""

__version__ = "0.1.0"
