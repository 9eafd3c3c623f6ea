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


class StorageError(MumaeError, OSError):
    """A file the kit must write could not be written (disk full, read-only folder, a file in the way);
    the message names the file and says which checkpoint survived."""


def describe_os_error(e: OSError) -> str:
    """One plain sentence for an OSError: what could not be written or read, naming the file."""
    import errno
    from pathlib import Path

    name = e.filename if e.filename is not None else "a file"
    where = Path(name).parent if isinstance(name, str) and Path(name).name.startswith(".") else name
    code = e.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return f"the disk is full: no space left to write {name}"
    if code == errno.EFBIG:
        return f"cannot write {name}: the file size limit was reached"
    if code == errno.EROFS:
        return f"cannot write in {where}: the file system is read-only"
    if code in (errno.EACCES, errno.EPERM):
        return f"cannot write in {where}: permission denied (is the folder read-only?)"
    if code in (errno.EEXIST, errno.ENOTDIR):
        return f"{name} is a file where a directory is needed (give a directory path)"
    if code == errno.EISDIR:
        return f"{name} is a directory where a file is needed"
    if code == errno.ENOENT:
        return f"{name} does not exist"
    return f"{name}: {e.strerror or e}"
