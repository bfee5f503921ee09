"""The errors for a user's mistake: one base, `UserError`, whose message is one line that names the problem and the
fix. Scripts and the `tlm` command catch this type only, so any other exception is a bug and keeps its traceback."""


class UserError(Exception):
    """A mistake in what the user gave (settings, files, folders), reported as one line with the fix."""


class SettingsError(UserError, ValueError):
    """A mistake in the settings or the input, reported as one line with the fix."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder the user named does not exist (or nothing matches a pattern), with the fix."""
