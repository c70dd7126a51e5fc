"""orbweaver: find known abuse imagery by fingerprint, get it removed, measure every provider.

The design (data flow, vocabulary, stages, what each may import, the rules) is
docs/architecture.md.
"""

__version__ = "0.1.0"
