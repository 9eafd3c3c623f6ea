"""Exceptions the kit raises. Each message names the file, class or parameter and what is wrong."""


class MumaeError(Exception):
    """Base class for every error the kit raises on purpose."""


class ConfigError(MumaeError, ValueError):
    """An invalid configuration value (names the parameter)."""


class DataError(MumaeError, ValueError):
    """Bad input data (names the file, clip or class)."""


class CheckpointError(MumaeError, RuntimeError):
    """A checkpoint that does not match the model (lists mismatched keys) or is unreadable."""


class EpisodeError(MumaeError, ValueError):
    """An episode that cannot be drawn (too few classes or clips)."""
