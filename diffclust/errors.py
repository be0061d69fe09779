"""Errors a user can cause and fix: the CLI prints their message as one line, no traceback."""


class UserError(Exception):
    """A problem with the user's configuration, data or run, with a message saying how to fix it.

    The message is one line: what is wrong, then what to do about it.
    """


class MissingData(UserError):
    """Input data absent from where the config looks for it: a fact of the machine, not of the
    config, so the same launch succeeds once the data is there (the CLI exits 3, not 2, and a
    grid runner tries the run again instead of recording it as refused)."""


EXIT_REFUSED = 2  # a UserError: the config, or the data it names, cannot be used as it is
EXIT_MISSING_DATA = 3  # a MissingData: install or point at the data, and launch again


def exit_code(err: UserError) -> int:
    return EXIT_MISSING_DATA if isinstance(err, MissingData) else EXIT_REFUSED
