"""gunicorn's logger with an access line that works out only the atoms its format names.

gunicorn's ``Logger.atoms`` puts every request header, response header and WSGI environ entry into
the atoms (about 60 on an API call) and ``SafeAtoms`` escapes each one, for a format that reads
nine. Under load that was about a tenth of a web worker's CPU per catalog lookup. Here the letter
atoms still come from gunicorn's own ``atoms`` (without the entries listed), and a ``{name}i``,
``{name}o`` or ``{name}e`` atom is looked up when the format asks for it, so the line is the
same, byte for byte, for any ``access_log_format``. ``gunicorn.conf.py`` selects this class.
"""

from __future__ import annotations

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
        sources = {"i": req.headers if hasattr(req, "headers") else req, "o": resp.headers, "e": environ}
        value = _last_match(sources[kind], name)
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
