"""What a user of the installed package (`pip install profile-etl`, not a clone) relies on."""
from __future__ import annotations

from importlib.metadata import version

import pytest

from flows.cli import main


def test_the_command_reports_the_installed_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"profile-etl {version('profile-etl')}\n"
