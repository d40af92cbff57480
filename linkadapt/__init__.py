"""linkadapt: command-line entry point dispatching to the xApp and the offline pipeline."""

__version__ = "0.1.0"
