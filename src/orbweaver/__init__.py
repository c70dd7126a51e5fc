"""orbweaver: find known abuse imagery by fingerprint, get it removed, measure every provider."""

__version__ = "0.1.0"
