"""Errors a user can act on. The CLI prints their message (one line) and exits 2; `--debug` shows the traceback."""


class SynthloomError(Exception):
    """Base class: the message names what is wrong, where, and how to fix it."""


class ConfigError(SynthloomError):
    pass


class ModelNotFoundError(SynthloomError):
    pass


class EngineUnavailableError(SynthloomError):
    pass


class DatasetError(SynthloomError):
    pass


class QueryError(SynthloomError):
    pass


class DatasetLockedError(DatasetError):
    """Another process is writing the same dataset (flows/store/locks.py)."""


class CorruptVersionError(DatasetError):
    """A published version whose manifest or files are unreadable or changed (flows/store/datasets.py)."""


class JudgeNotCalibratedError(SynthloomError):
    """A judge whose scores do not separate good from bad rows was asked to filter (flows/run/judge_gate.py)."""
