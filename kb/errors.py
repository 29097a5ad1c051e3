"""Errors services raise; the portal maps them to HTTP statuses and messages."""


class KBError(Exception):
    """Base class: the message is safe to show to the user."""


class NotFound(KBError):
    pass


class PermissionDenied(KBError):
    pass


class ValidationError(KBError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class InvalidTransition(KBError):
    pass
