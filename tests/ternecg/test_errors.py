"""cli_main: one line and an exit status instead of a traceback."""

import pytest

from ternecg.errors import TernEcgError, cli_main


@pytest.mark.parametrize("exc, status, line", [
    (TernEcgError("bad --board 'x'; one of: icebreaker, ulx3s"), 2,
     "ternecg demo-tool: error: bad --board 'x'; one of: icebreaker, ulx3s"),
    (KeyboardInterrupt(), 130, "ternecg demo-tool: interrupted"),
])
def test_errors_become_one_line_and_a_status(exc, status, line, capsys):
    @cli_main("demo-tool")
    def main(argv=None):
        raise exc
    assert main([]) == status
    assert capsys.readouterr().err.splitlines() == [line]


def test_success_passes_the_status_and_other_errors_through():
    assert cli_main("t")(lambda argv=None: 1)([]) == 1
    with pytest.raises(ZeroDivisionError):
        cli_main("t")(lambda argv=None: 1 / 0)([])
