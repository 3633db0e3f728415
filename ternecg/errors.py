"""The one exception type for user mistakes (bad config, corrupt model file, missing data, ...).

Every command-line entry point catches it and prints its message as one line, without a traceback.
"""


class TernEcgError(Exception):
    """A user-facing error: the message names the bad value and says what to do."""


def user_values(what):
    """A context manager around the *argument checks* of hardware components fed with user values
    (a model file, a command-line option): the TypeError or ValueError a component raises for a
    bad argument (as Amaranth's own library does, hw/checks.py) becomes a :class:`TernEcgError`
    ``"{what}: {message}"``, which :func:`cli_main` prints as one line."""
    import contextlib

    @contextlib.contextmanager
    def convert():
        try:
            yield
        except (TypeError, ValueError) as err:
            raise TernEcgError(f"{what}: {err}") from None
    return convert()


def cli_main(prog):
    """Decorate a ``main(argv) -> int``: a :class:`TernEcgError` it raises becomes one line
    ``ternecg PROG: error: ...`` on stderr and exit status 2 (``ternecg: error: ...`` when ``prog``
    is empty); Ctrl-C becomes ``interrupted``, 130."""
    import functools
    import sys

    name = f"ternecg {prog}" if prog else "ternecg"

    def wrap(main):
        @functools.wraps(main)
        def run(argv=None):
            try:
                return main(argv)
            except TernEcgError as err:
                print(f"{name}: error: {err}", file=sys.stderr)
                return 2
            except KeyboardInterrupt:
                print(f"{name}: interrupted", file=sys.stderr)
                return 130
        return run
    return wrap
