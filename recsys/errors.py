"""Named exceptions: the engine raises these, the CLI and the app turn them into messages."""


class RecsysError(Exception):
    """Base class for every error the engine reports to a user."""


class UnknownItemsError(RecsysError):
    def __init__(self, ids):
        self.ids = list(ids)
        shown = ", ".join(repr(i) for i in self.ids[:10])
        more = f" and {len(self.ids) - 10} more" if len(self.ids) > 10 else ""
        super().__init__(f"unknown item id(s): {shown}{more}")


class EmptyCandidatesError(RecsysError):
    """No candidate is left to rank (all were history items, or none were given)."""


class ModelLoadError(RecsysError):
    """A language or embedding model could not be loaded."""


class ConfigError(RecsysError):
    """A setting has a value the engine cannot use."""


class ImportFormatError(RecsysError):
    """A dataset file is malformed; names the file and the line."""

    def __init__(self, path, line, message):
        self.path, self.line = str(path), line
        where = f"{self.path}, line {line}" if line else self.path
        super().__init__(f"{where}: {message}")


class UnknownPrecisionError(ConfigError):
    """A numeric precision name the engine does not know (--precision, RECSYS_PRECISION, the app's setting)."""

    def __init__(self, name, known):
        self.name = name
        super().__init__(f"unknown precision {name!r}: use one of {', '.join(known)}")


class LoadTestError(RecsysError):
    """The load test cannot run as asked (a count out of range, a port in use, no Chromium) or ran out of time."""
