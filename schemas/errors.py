"""Errors a user can act on. The CLI prints their message and exits non-zero; no traceback."""


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
