"""The one way to fail: Ctrl-C and closed pipes end quietly and say so in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bucketvault.cli.output import abort_on
from bucketvault.errors import ExitCode


def test_ctrl_c_is_one_clean_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        abort_on(KeyboardInterrupt())
    assert exited.value.code == ExitCode.INTERRUPTED
    err = capsys.readouterr().err
    assert err == "Error: interrupted (Ctrl-C): nothing more was changed\n"


def test_a_reader_that_goes_away_is_not_an_error() -> None:
    # `bucketvault ... | head -1`: the pipe closes after the first line
    script = (
        "import sys; from bucketvault.cli import app, main, output\n"
        "app.app = lambda: [output.print_data('line') for _ in range(100000)]\n"
        "main.run()\n"
    )
    proc = subprocess.run(
        f'{sys.executable} -c "{script}" | head -1',
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout == "line\n"
    assert proc.stderr == "", proc.stderr
