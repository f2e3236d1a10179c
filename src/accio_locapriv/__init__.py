"""Location-privacy operators for Accio, registered through the ``accio.operators`` entry point."""

__version__ = "0.1.0"
