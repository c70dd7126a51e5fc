"""The signal types, one module each (a family of the same kind, like the cryptographic hashes,
shares one): `crypto` (sha256, sha1, md5), `pdq`. `orbweaver.signals.registry` registers them; a
new type (vPDQ, a licensed PhotoDNA) is a module here, or in a plug-in, plus a registration.
"""
