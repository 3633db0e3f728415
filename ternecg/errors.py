"""The one exception type for user mistakes (bad config, corrupt model file, missing data, ...).

Every command-line entry point catches it and prints its message as one line, without a traceback.
"""


class TernEcgError(Exception):
    """A user-facing error: the message names the bad value and says what to do."""
