"""Errors of the review domain, with messages fit to show an analyst."""


class ReviewError(ValueError):
    """An action that cannot be done in the item's current state."""


class NotFound(ReviewError):
    """No such item, user or session."""


class Forbidden(ReviewError):
    """The user may not do this (role, own assessment, exposure cap)."""


class Busy(ReviewError):
    """Too many logins are being checked at once; retry in a moment."""
