"""Errors a user can cause and fix: the CLI prints their message as one line, no traceback."""


class UserError(Exception):
    """A problem with the user's configuration, data or run, with a message saying how to fix it.

    The message is one line: what is wrong, then what to do about it.
    """
