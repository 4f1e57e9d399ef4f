"""Errors a user can cause and fix: printed as one line, never as a traceback."""


class UserError(Exception):
    """A problem with the user's input or environment; the message names the fix."""
