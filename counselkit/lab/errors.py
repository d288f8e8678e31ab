"""The one exception type the lab raises for anything a user can act on."""


class LabError(Exception):
    """A lab operation failed; the message says what happened and what to do."""
