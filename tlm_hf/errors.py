"""The error for a user's mistake: its message is one line that names the problem and the fix."""


class SettingsError(ValueError):
    """A mistake in the settings or the input, reported as one line with the fix."""
