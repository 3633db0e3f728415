"""The one exception type for user mistakes (bad config, corrupt model file, missing data, ...).

Every command-line entry point catches it and prints its message as one line, without a traceback.
"""


class TernEcgError(Exception):
    """A user-facing error: the message names the bad value and says what to do."""


def cli_main(prog):
    """Decorate a ``main(argv) -> int``: a :class:`TernEcgError` it raises becomes one line
    ``ternecg PROG: error: ...`` on stderr and exit status 2; Ctrl-C becomes ``interrupted``, 130."""
    import functools
    import sys

    def wrap(main):
        @functools.wraps(main)
        def run(argv=None):
            try:
                return main(argv)
            except TernEcgError as err:
                print(f"ternecg {prog}: error: {err}", file=sys.stderr)
                return 2
            except KeyboardInterrupt:
                print(f"ternecg {prog}: interrupted", file=sys.stderr)
                return 130
        return run
    return wrap
