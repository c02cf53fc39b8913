"""One exception type for every problem a user can fix.

The CLI prints a DomaintuneError as one line (no traceback); anything else is a bug and keeps its traceback.
"""


class DomaintuneError(Exception):
    """A problem with the user's input, recipe, files or environment, explained in one line."""
