"""`python -m provisioning`: the technicians' CLI where the `adsbin` script is not installed."""

from provisioning.cli import app

if __name__ == "__main__":
    app(prog_name="python -m provisioning")
