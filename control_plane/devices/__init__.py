"""Device fleet: pairing, credentials, heartbeats, commands, the MQTT bridge."""
