"""What the control plane, the player agent and the technicians' CLI all import: wire schemas,
MQTT topic names and signing. Imports neither FastAPI nor SQLAlchemy."""
