"""gunicorn's logger with an access line that works out only the atoms its format names.

gunicorn's ``Logger.atoms`` puts every request header, response header and WSGI environ entry into
the atoms (about 60 on an API call) and ``SafeAtoms`` escapes each one, for a format that reads
nine. Under load that was about a tenth of a web worker's CPU per catalog lookup. Here the letter
atoms still come from gunicorn's own ``atoms`` (without the entries listed), and a ``{name}i``,
``{name}o`` or ``{name}e`` atom is looked up when the format asks for it, so the line is the
same, byte for byte, for any ``access_log_format``. ``gunicorn.conf.py`` selects this class.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator, Mapping

from gunicorn import glogging


class _EnvironUnlisted:
    """A WSGI environ as gunicorn's ``atoms`` reads it, with no entries to list as ``{name}e`` atoms."""

    __slots__ = ("environ",)

    def __init__(self, environ):
        self.environ = environ

    def __getitem__(self, key):
        return self.environ[key]

    def get(self, key, default=None):
        return self.environ.get(key, default)

    def items(self):
        return ()


def _last_match(headers, name: str):
    """The value of the last (name, value) pair of ``headers`` (a mapping or a list of pairs) whose
    name is ``name`` case-insensitively, as a dict built from all of them would hold it; None when
    there is none."""
    found = None
    for key, value in headers.items() if hasattr(headers, "items") else headers:
        if key.lower() == name:
            found = value
    return found


class LazyAtoms(Mapping):
    """The atoms of one request, each worked out when it is read."""

    def __init__(self, logger, resp, req, environ, request_time):
        self._parts = (logger, resp, req, environ, request_time)
        self._letters = None

    def _letter_atoms(self) -> dict:
        if self._letters is None:
            logger, resp, _req, environ, request_time = self._parts
            self._letters = glogging.Logger.atoms(logger, resp, (), _EnvironUnlisted(environ), request_time)
        return self._letters

    def __getitem__(self, key):
        if not (key.startswith("{") and len(key) > 3 and key[-2] == "}" and key[-1] in "ioe"):
            return self._letter_atoms()[key]
        _logger, resp, req, environ, _request_time = self._parts
        name, kind = key[1:-2], key[-1]
        if kind == "i":
            source = req.headers if hasattr(req, "headers") else req
        else:
            source = resp.headers if kind == "o" else environ
        value = _last_match(source, name)
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._letter_atoms())

    def __len__(self) -> int:
        return len(self._letter_atoms())


class SafeLazyAtoms(Mapping):
    """gunicorn's ``SafeAtoms`` over ``LazyAtoms``: braced names are read case-insensitively, double
    quotes in text are escaped, and an atom that is missing reads as ``-``."""

    def __init__(self, atoms: LazyAtoms):
        self._atoms = atoms

    def __getitem__(self, key):
        try:
            value = self._atoms[key.lower() if key.startswith("{") else key]
        except KeyError:
            return "-"
        return value.replace('"', '\\"') if isinstance(value, str) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._atoms)

    def __len__(self) -> int:
        return len(self._atoms)


class AccessLogger(glogging.Logger):
    atoms_wrapper_class = SafeLazyAtoms

    def atoms(self, resp, req, environ, request_time):
        return LazyAtoms(self, resp, req, environ, request_time)

    def access(self, resp, req, environ, request_time):
        """Where the access log is gunicorn's own file or stream handler, write the line to it directly.

        Through ``logging`` each line also built a ``LogRecord`` (the caller's frame, the thread's and
        process's names, the time) only for a formatter that writes the message alone. The line and
        the handler's lock are the same; any other setup (a log config, syslog, filters) goes through
        ``logging`` as before.
        """
        handler = self._plain_access_handler()
        if handler is None:
            return super().access(resp, req, environ, request_time)
        try:
            line = self.cfg.access_log_format % self.atoms_wrapper_class(self.atoms(resp, req, environ, request_time))
            handler.acquire()
            try:
                handler.stream.write(line + handler.terminator)
                handler.stream.flush()
            finally:
                handler.release()
        except Exception:  # noqa: BLE001 (as gunicorn's own access(): a log line never fails a request)
            self.error(traceback.format_exc())
        return None

    def _plain_access_handler(self) -> logging.StreamHandler | None:
        """gunicorn's handler of the access log, when writing the message to its stream is all that
        ``logging`` would do with the line; else None. Asked for each line, not once at setup: Django's
        logging config, applied in each worker after gunicorn set its handlers, may change them."""
        log = self.access_log
        if not self.access_log_enabled or len(log.handlers) != 1 or log.filters or not log.isEnabledFor(logging.INFO):
            return None
        handler = log.handlers[0]
        formatter = handler.formatter
        if (
            type(handler) not in _PLAIN_HANDLERS
            or not getattr(handler, "_gunicorn", False)
            or handler.filters
            or handler.level > logging.INFO
            or handler.stream is None
            or type(formatter) is not logging.Formatter
            or formatter._fmt != self.access_fmt  # noqa: SLF001 (the format it was given; logging keeps no other)
        ):
            return None
        return handler


_PLAIN_HANDLERS = (logging.StreamHandler, logging.FileHandler)
