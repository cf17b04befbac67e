"""The errors a user can act on: the command line prints them without a traceback."""
from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; the CLI prints it without a traceback and exits with exit_code."""
    exit_code = 2   # a usage or home problem


class RunFailed(UserError):
    """A run that started and failed (the data is as it was)."""
    exit_code = 1
