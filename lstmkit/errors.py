"""lstmkit's own errors: a user's input (data, config, model file, request) is wrong, and the message names
the problem and the fix. The CLI prints these as one line and exits 2; any other exception is a bug and
keeps its traceback. Each also subclasses ValueError, so `except ValueError` keeps working."""


class LstmkitError(ValueError):
    """Bad input that the user can fix; the message says what and how."""


class UsageError(LstmkitError):
    """A call or request that cannot be served as given (wrong shape, untrained model, unknown field)."""
