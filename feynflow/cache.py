"""A persistent, process-safe cache of computed coefficients (SQLite, JSON values).

Computing the coefficients ``Y_s`` of the loss expansion at high order takes
minutes to hours; this module stores the results on disk so that a second
request is answered at once.  A *cache key* is a mapping of every parameter
that changes the result (for instance ``nu``, the scenario, the target, the
order); the key stored on disk also holds feynflow's version and the schema
version of the database, so an upgrade never reads results computed by older
code.  Values are plain JSON text, never pickles.

The cache never gives a wrong answer and never stops a computation: a file it
cannot use (unreadable, truncated, not SQLite, SQLite written by another
program or by an incompatible feynflow) is reported once with a
:class:`CacheWarning`, and every lookup is then a miss.  Only the explicit
maintenance operations :meth:`CoefficientCache.info` and
:meth:`CoefficientCache.clear` raise :class:`CacheError`.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import logging
import os
import pathlib
import re
import sqlite3
import stat
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import sympy

from feynflow.errors import FeynflowError, ParameterError
from feynflow.symbols import H, T, p, sigma, t

__all__ = [
    "CacheError",
    "CacheWarning",
    "CoefficientCache",
    "NullCache",
    "SCHEMA_VERSION",
    "canonical_key",
    "decode_coefficients",
    "default_cache_path",
    "encode_coefficients",
    "open_cache",
]

logger = logging.getLogger(__name__)

#: Version of the database layout and of the key format.  Part of every key;
#: a file with another schema version is left alone.
SCHEMA_VERSION = 1

#: ``PRAGMA application_id`` of every feynflow cache (the bytes ``FnFl``).  It
#: sits at a fixed offset of the SQLite header, so a file can be recognised as
#: ours, or not, without trusting anything else in it.
APPLICATION_ID = int.from_bytes(b"FnFl", "big")

#: How long (milliseconds) a writer waits for another process's transaction.
BUSY_TIMEOUT_MS = 60_000

#: SQLite's own wait per attempt (milliseconds); short, so Ctrl-C is prompt.
_ATTEMPT_TIMEOUT_MS = 250

_SQLITE_MAGIC = b"SQLite format 3\x00"
_HEADER_SIZE = 100
_DEFAULT_FILE_NAME = "coefficients.sqlite"

_SCHEMA = """
CREATE TABLE entries (
    key     TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    value   TEXT NOT NULL,
    digest  TEXT NOT NULL,
    created TEXT NOT NULL
)
"""

#: The symbols a stored polynomial may use, by name.
_SYMBOLS_BY_NAME = {str(symbol): symbol for symbol in (p, H, sigma, t, T)}

_RATIONAL_TEXT = re.compile(r"-?[0-9]+(/[0-9]+)?")


class CacheError(FeynflowError):
    """The cache file cannot be inspected or cleared (bad path, foreign file)."""


class CacheWarning(UserWarning):
    """The cache cannot be used; the computation goes on without it."""


def default_cache_path() -> pathlib.Path:
    """Return the file the coefficient cache lives in unless told otherwise.

    The path is ``$FEYNFLOW_CACHE`` when that variable is set and not empty,
    otherwise ``$XDG_CACHE_HOME/feynflow/coefficients.sqlite``, where
    ``XDG_CACHE_HOME`` defaults to ``~/.cache``.

    Returns
    -------
    pathlib.Path
        The path of the SQLite file; it need not exist yet.

    Examples
    --------
    >>> import os
    >>> saved = os.environ.get("FEYNFLOW_CACHE")
    >>> os.environ["FEYNFLOW_CACHE"] = "/srv/shared/feynflow.sqlite"
    >>> str(default_cache_path())
    '/srv/shared/feynflow.sqlite'
    >>> if saved is None:
    ...     del os.environ["FEYNFLOW_CACHE"]
    ... else:
    ...     os.environ["FEYNFLOW_CACHE"] = saved

    Notes
    -----
    Following the XDG Base Directory specification, a relative
    ``XDG_CACHE_HOME`` is ignored.
    """
    explicit = os.environ.get("FEYNFLOW_CACHE")
    if explicit:
        return pathlib.Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME")
    if base and os.path.isabs(base):
        root = pathlib.Path(base)
    else:
        root = pathlib.Path.home() / ".cache"
    return root / "feynflow" / _DEFAULT_FILE_NAME


def _feynflow_version() -> str:
    # Looked up at call time: this module is imported while the package's
    # ``__init__`` is still running.
    import feynflow

    return feynflow.__version__


def _to_json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            f"cache {what} {value!r:.60} is not plain JSON data ({exc}); "
            "use dicts with str keys, lists, str, int, bool or None"
        ) from None


def canonical_key(params: Mapping[str, Any]) -> str:
    """Return the text under which the result for ``params`` is stored.

    The text is JSON with sorted keys and no spaces, of ``params`` together
    with feynflow's version and :data:`SCHEMA_VERSION`; two mappings that are
    equal as dicts give the same text, whatever their order.

    Parameters
    ----------
    params : Mapping[str, JSON data]
        Every parameter that changes the result.

    Returns
    -------
    str
        The canonical key.

    Raises
    ------
    ParameterError
        If ``params`` is not a mapping with str keys of plain JSON data.

    Examples
    --------
    >>> a = canonical_key({"nu": 2, "order": 3})
    >>> a == canonical_key({"order": 3, "nu": 2})
    True
    >>> json.loads(a)["params"]
    {'nu': 2, 'order': 3}
    """
    if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
        raise ParameterError(
            f"cache key {params!r:.60} is not allowed; it must be a mapping with "
            "str keys"
        )
    envelope = {
        "feynflow": _feynflow_version(),
        "params": dict(params),
        "schema": SCHEMA_VERSION,
    }
    return _to_json(envelope, "key")


def _digest(key_text: str, value_text: str) -> str:
    return hashlib.sha256(f"{key_text}\0{value_text}".encode()).hexdigest()


def encode_coefficients(polys: Sequence[sympy.Poly]) -> dict:
    """Return polynomials with rational coefficients as plain JSON data.

    This is the stored form of a list ``[Y_0, ..., Y_s]``: each term is the
    list of its exponents and its coefficient written exactly as ``"n/d"``.

    Parameters
    ----------
    polys : sequence of sympy.Poly
        Polynomials over the rationals, all in the same generators, each of
        which is one of feynflow's symbols ``p, H, sigma, t, T``.

    Returns
    -------
    dict
        ``{"gens": [names], "polys": [[[exponents], "coefficient"], ...]}``,
        terms sorted by exponents.

    Raises
    ------
    ParameterError
        If a polynomial has other generators or non-rational coefficients.

    See Also
    --------
    decode_coefficients : the inverse.

    Examples
    --------
    >>> from feynflow.symbols import p, H, sigma
    >>> Y0 = sympy.Poly(p / 2 + sympy.Rational(3, 4) * p * H * sigma**4,
    ...                 p, H, sigma)
    >>> encode_coefficients([Y0])
    {'gens': ['p', 'H', 'sigma'], 'polys': [[[[1, 0, 0], '1/2'], [[1, 1, 4], '3/4']]]}
    """
    gens: tuple | None = None
    encoded = []
    for poly in polys:
        if not isinstance(poly, sympy.Poly):
            raise ParameterError(f"{poly!r:.60} is not a sympy.Poly")
        if gens is None:
            gens = poly.gens
        if poly.gens != gens:
            raise ParameterError(
                f"generators {poly.gens} differ from {gens}; all polynomials must "
                "share their generators"
            )
        terms = []
        for exponents, coefficient in poly.terms():
            if not getattr(coefficient, "is_Rational", False):
                raise ParameterError(
                    f"coefficient {coefficient} is not rational; only exact "
                    "rational coefficients can be stored"
                )
            # The zero polynomial reports one zero term; it is stored as none.
            if coefficient != 0:
                value = Fraction(int(coefficient.p), int(coefficient.q))
                terms.append([list(exponents), str(value)])
        terms.sort()
        encoded.append(terms)
    gens = gens or (p, H, sigma)
    names = [str(g) for g in gens]
    for gen, name in zip(gens, names, strict=True):
        if _SYMBOLS_BY_NAME.get(name) != gen:
            raise ParameterError(
                f"generator {gen!r} is not allowed; use feynflow's symbols "
                f"{', '.join(_SYMBOLS_BY_NAME)}"
            )
    return {"gens": names, "polys": encoded}


def decode_coefficients(data: Any) -> list[sympy.Poly]:
    """Rebuild the polynomials stored by :func:`encode_coefficients`.

    Every part of ``data`` is checked, so a damaged or foreign value is
    refused rather than turned into a wrong polynomial.

    Parameters
    ----------
    data : JSON data
        A value returned by :func:`encode_coefficients` (after a JSON round
        trip).

    Returns
    -------
    list of sympy.Poly
        Polynomials over ``QQ`` in feynflow's symbols.

    Raises
    ------
    ValueError
        If ``data`` does not have exactly the shape ``encode_coefficients``
        writes (unknown generator, negative or non-integer exponent, zero or
        non-rational coefficient, repeated monomial, extra fields).

    Examples
    --------
    >>> polys = decode_coefficients(
    ...     {"gens": ["p", "H", "sigma"], "polys": [[[[1, 0, 0], "1/2"]]]})
    >>> polys[0].as_expr()
    p/2
    """
    if not isinstance(data, dict) or set(data) != {"gens", "polys"}:
        raise ValueError("stored coefficients must be {'gens': ..., 'polys': ...}")
    names, polys = data["gens"], data["polys"]
    if not isinstance(names, list) or not names:
        raise ValueError("'gens' must be a non-empty list of names")
    if any(name not in _SYMBOLS_BY_NAME for name in names) or len(set(names)) != len(
        names
    ):
        raise ValueError(f"unknown or repeated generators {names!r}")
    gens = [_SYMBOLS_BY_NAME[name] for name in names]
    if not isinstance(polys, list):
        raise ValueError("'polys' must be a list")

    result = []
    for terms in polys:
        if not isinstance(terms, list):
            raise ValueError("each polynomial must be a list of terms")
        coefficients: dict[tuple[int, ...], sympy.Rational] = {}
        for term in terms:
            if not (isinstance(term, list) and len(term) == 2):
                raise ValueError(f"term {term!r:.40} is not [exponents, coefficient]")
            exponents, text = term
            if not (
                isinstance(exponents, list)
                and len(exponents) == len(gens)
                and all(type(e) is int and e >= 0 for e in exponents)
            ):
                raise ValueError(f"bad exponents {exponents!r:.40}")
            if not (isinstance(text, str) and _RATIONAL_TEXT.fullmatch(text)):
                raise ValueError(f"bad coefficient {text!r:.40}")
            numerator, _, denominator = text.partition("/")
            numerator, denominator = int(numerator), int(denominator or 1)
            if numerator == 0 or denominator == 0:
                raise ValueError(f"zero coefficient or denominator in {term!r:.40}")
            if tuple(exponents) in coefficients:
                raise ValueError(f"repeated monomial in {term!r:.40}")
            coefficients[tuple(exponents)] = sympy.QQ(numerator, denominator)
        result.append(sympy.Poly.from_dict(coefficients, *gens, domain=sympy.QQ))
    return result


def _header_problem(path: pathlib.Path) -> tuple[str, bool] | None:
    """Say why the file at ``path`` is not a usable feynflow cache.

    Returns ``None`` when the header is that of a feynflow cache, otherwise a
    reason and whether the file may be reset (it is ours, or empty).  The file
    is only read.
    """
    try:
        status = path.stat()
        size, mode = status.st_size, status.st_mode
        if not stat.S_ISREG(mode):
            return "it is not a regular file", False
        with open(path, "rb") as handle:
            header = handle.read(_HEADER_SIZE)
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})", False
    if size == 0:
        return "it is an empty file", True
    if not header.startswith(_SQLITE_MAGIC):
        return "it is not an SQLite database", False
    if len(header) < _HEADER_SIZE:
        return "it is an SQLite file cut short inside its header", False
    if int.from_bytes(header[68:72], "big") != APPLICATION_ID:
        return "it is an SQLite database written by another program", False

    # The page count at offset 28 is trustworthy when the change counter
    # (offset 24) equals the version-valid-for number (offset 92).  Checked
    # only without a write-ahead log: a checkpoint in progress may have
    # written page 1 before extending the file.
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    page_count = int.from_bytes(header[28:32], "big")
    wal = path.with_name(path.name + "-wal")
    if (
        header[24:28] == header[92:96]
        and page_count
        and not wal.exists()
        and size < page_size * page_count
    ):
        return (
            f"it is truncated ({size} bytes of {page_size * page_count})",
            True,
        )
    return None


class NullCache:
    """A cache that stores nothing: the ``--no-cache`` choice.

    It has the interface of :class:`CoefficientCache`; every lookup misses.

    Examples
    --------
    >>> with NullCache() as cache:
    ...     cache.put({"nu": 2}, [1])
    ...     print(cache.get({"nu": 2}))
    None
    """

    enabled = False
    path = None

    def get(
        self,
        key: Mapping[str, Any],
        decode: Callable[[Any], Any] | None = None,
    ) -> Any:
        """Return ``None``: nothing is ever stored."""
        canonical_key(key)
        return None

    def put(self, key: Mapping[str, Any], value: Any) -> None:
        """Check ``key`` and ``value`` are plain data, then forget them."""
        canonical_key(key)
        _to_json(value, "value")

    def put_many(self, items: Iterable[tuple[Mapping[str, Any], Any]]) -> None:
        """Check every pair of ``items``, then forget them."""
        for key, value in items:
            self.put(key, value)

    def info(self) -> dict:
        """Return an empty report (no path, no entries)."""
        return {"path": None, "exists": False, "entries": 0, "bytes": 0, "versions": {}}

    def clear(self, stale_only: bool = False) -> int:
        """Remove nothing; return 0."""
        return 0

    def close(self) -> None:
        """Do nothing."""

    def __enter__(self) -> NullCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class CoefficientCache:
    """A persistent store of computed results in an SQLite file.

    The file is created (with its directory) on the first :meth:`put`; until
    then nothing is written.  Keys are mappings of plain JSON data, made
    canonical by :func:`canonical_key` (which adds feynflow's version and the
    schema version); values are plain JSON data.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The SQLite file.  Default :func:`default_cache_path`.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with CoefficientCache(folder / "cache.sqlite") as cache:
    ...     print(cache.get({"nu": 2, "order": 1}))
    ...     cache.put({"nu": 2, "order": 1}, {"Y": ["1/2", "-3"]})
    ...     cache.get({"order": 1, "nu": 2})
    None
    {'Y': ['1/2', '-3']}
    >>> with CoefficientCache(folder / "cache.sqlite") as cache:
    ...     cache.info()["entries"]
    1
    >>> import shutil
    >>> shutil.rmtree(folder)

    Notes
    -----
    *Concurrency.*  The database is in write-ahead-log mode; each write is one
    ``BEGIN IMMEDIATE`` transaction, and a writer waits up to
    :data:`BUSY_TIMEOUT_MS` for another process's transaction, so processes
    writing at the same time lose nothing and readers never block.  A new
    file is built under a temporary name and hard-linked into place, so two
    processes creating the cache at once agree on one file.  Write-ahead
    logging needs shared memory between the processes, so the file must not be
    on a network file system.

    *Interruption.*  A write is all-or-nothing: Ctrl-C or ``SIGKILL`` during
    :meth:`put` or :meth:`put_many` leaves the database as it was before that
    call or as it is after it.  With ``synchronous=NORMAL`` a power failure
    may lose the last few writes but never corrupts the file.

    *Damage.*  Each row holds the SHA-256 digest of its key and value; a row
    whose digest, JSON or shape (checked by ``decode``) is wrong is a miss
    with a :class:`CacheWarning`, and is overwritten by the next
    :meth:`put` of that key.  A file that is not a feynflow cache of this
    schema is never modified by :meth:`get` or :meth:`put`: a
    :class:`CacheWarning` is given once and the cache is disabled (every
    lookup misses, nothing is stored).  :meth:`clear` resets a damaged
    feynflow cache, and refuses to touch a file written by another program.

    References
    ----------
    .. [1] SQLite, "Write-Ahead Logging", https://www.sqlite.org/wal.html
    .. [2] SQLite, "Database File Format", https://www.sqlite.org/fileformat.html
    """

    enabled = True

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = pathlib.Path(path) if path is not None else default_cache_path()
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None
        # Why the file cannot be used, and whether clear() may reset it.
        self._problem: str | None = None
        self._resettable = False
        self._writable = True
        self._warned = False

    # -- opening -----------------------------------------------------------

    def _warn(self, message: str) -> None:
        # The warning reaches the user once; the log keeps every occurrence.
        logger.info("%s", message)
        if not self._warned:
            self._warned = True
            warnings.warn(message, CacheWarning, stacklevel=4)

    def _disable(self, reason: str, resettable: bool = False) -> None:
        self._problem = reason
        self._resettable = resettable
        self._drop_connection()
        self._warn(f"coefficient cache disabled: {self.path}: {reason}")

    def _drop_connection(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
        # A connection inherited through fork() is never used or closed.
        self._conn = None
        self._pid = None

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        """Return an open connection, or ``None`` (missing file, or disabled).

        With ``create`` a missing file is created.  A problem disables the
        cache with a warning.
        """
        if self._problem is not None:
            return None
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        self._conn = None

        try:
            if self.path.is_dir():
                self._disable("it is a directory, not a file")
                return None
            if not self.path.exists():
                if not create:
                    return None
                if not self._create():
                    return None
        except OSError as exc:
            self._disable(f"cannot reach it ({exc.strerror or exc})")
            return None

        problem = _header_problem(self.path)
        if problem is not None:
            self._disable(*problem)
            return None
        try:
            conn = self._open_existing()
        except sqlite3.DatabaseError as exc:
            self._database_error(exc)
            return None
        except _SchemaMismatch as exc:
            self._disable(str(exc), resettable=True)
            return None
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _open_existing(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri() + "?mode=rw"
        conn = sqlite3.connect(
            uri,
            uri=True,
            isolation_level=None,
            timeout=_ATTEMPT_TIMEOUT_MS / 1000,
            check_same_thread=False,
        )
        try:
            conn.execute("PRAGMA synchronous = NORMAL")
            (schema,) = conn.execute("PRAGMA user_version").fetchone()
            if schema != SCHEMA_VERSION:
                raise _SchemaMismatch(
                    f"it has schema version {schema}; this feynflow uses "
                    f"{SCHEMA_VERSION}"
                )
            columns = [row[1] for row in conn.execute("PRAGMA table_info(entries)")]
            if columns != ["key", "version", "value", "digest", "created"]:
                raise _SchemaMismatch("its entries table has an unexpected layout")
            conn.execute("SELECT 1 FROM entries LIMIT 1").fetchall()
        except BaseException:
            conn.close()
            raise
        return conn

    def _create(self) -> bool:
        """Create the database file; return whether the cache is usable."""
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(
                dir=directory, prefix=f".{self.path.name}.", suffix=".new"
            )
            os.close(handle)
        except OSError as exc:
            self._disable(f"cannot create it ({exc.strerror or exc})")
            return False

        try:
            conn = sqlite3.connect(temporary, isolation_level=None)
            try:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute(_SCHEMA)
            finally:
                conn.close()
            # A hard link appears at once, complete, and never replaces a
            # file another process created meanwhile.
            try:
                os.link(temporary, self.path)
            except FileExistsError:
                pass
            except OSError:
                # File systems without hard links: only a small race remains,
                # in which a concurrent creator's file may be replaced.
                if not self.path.exists():
                    os.replace(temporary, self.path)
        except (OSError, sqlite3.Error) as exc:
            self._disable(f"cannot create it ({exc})")
            return False
        finally:
            for leftover in (temporary, temporary + "-wal", temporary + "-shm"):
                with contextlib.suppress(OSError):
                    os.unlink(leftover)
        logger.info("created coefficient cache %s", self.path)
        return True

    # -- reading and writing ------------------------------------------------

    def get(
        self,
        key: Mapping[str, Any],
        decode: Callable[[Any], Any] | None = None,
    ) -> Any:
        """Return the value stored under ``key``, or ``None`` on a miss.

        Parameters
        ----------
        key : Mapping[str, JSON data]
            Every parameter that changes the result.
        decode : callable, optional
            Applied to the stored JSON data; if it raises an ``Exception`` the
            value has the wrong shape and the lookup is a miss (with a
            :class:`CacheWarning`).

        Returns
        -------
        JSON data, the result of ``decode``, or None
            ``None`` if nothing valid is stored (or the cache is disabled).

        Raises
        ------
        ParameterError
            If ``key`` is not a mapping of plain JSON data.
        """
        key_text = canonical_key(key)
        with self._lock:
            conn = self._connect(create=False)
            if conn is None:
                return None
            try:
                row = conn.execute(
                    "SELECT value, digest FROM entries WHERE key = ?", (key_text,)
                ).fetchone()
            except sqlite3.DatabaseError as exc:
                self._database_error(exc)
                return None
        if row is None:
            return None

        value_text, digest = row
        if not isinstance(value_text, str) or digest != _digest(key_text, value_text):
            self._bad_entry(key_text, "its checksum does not match")
            return None
        try:
            value = json.loads(value_text)
        except ValueError:
            self._bad_entry(key_text, "it is not valid JSON")
            return None
        if decode is None:
            return value
        try:
            return decode(value)
        except Exception as exc:
            # Whatever a damaged value makes ``decode`` raise, it is a miss.
            self._bad_entry(key_text, f"it has the wrong shape ({exc!r})")
            return None

    def _bad_entry(self, key_text: str, reason: str) -> None:
        message = f"ignoring cache entry {key_text:.120} in {self.path}: {reason}"
        logger.info("%s", message)
        warnings.warn(message, CacheWarning, stacklevel=3)

    def _database_error(self, exc: sqlite3.DatabaseError) -> None:
        """Warn about ``exc``; disable what it shows to be unusable."""
        text = str(exc)
        if isinstance(exc, sqlite3.OperationalError) and (
            "locked" in text or "busy" in text
        ):
            # Another process held the lock past the busy timeout: this
            # lookup or write is lost, the cache itself is fine.
            self._warn(f"coefficient cache {self.path} is busy ({exc})")
        elif isinstance(exc, sqlite3.OperationalError) and "readonly" in text:
            self._writable = False
            self._warn(f"coefficient cache {self.path} is read-only; not storing")
        elif isinstance(exc, sqlite3.OperationalError):
            # The file may be fine; its surroundings (disk, permissions) are not.
            self._disable(f"cannot use it ({exc})")
        else:
            self._disable(f"it is damaged ({exc})", resettable=True)

    def put(self, key: Mapping[str, Any], value: Any) -> None:
        """Store ``value`` under ``key``, replacing what was there.

        Parameters
        ----------
        key : Mapping[str, JSON data]
            Every parameter that changes the result.
        value : JSON data
            The result; dicts with str keys, lists, str, int, bool, None.

        Raises
        ------
        ParameterError
            If ``key`` or ``value`` is not plain JSON data.
        """
        self.put_many([(key, value)])

    def put_many(self, items: Iterable[tuple[Mapping[str, Any], Any]]) -> None:
        """Store several ``(key, value)`` pairs in one transaction.

        Either every pair is stored or, after an interruption, none is.

        Parameters
        ----------
        items : iterable of (key, value)
            As for :meth:`put`.

        Raises
        ------
        ParameterError
            If a key or value is not plain JSON data.
        """
        version = _feynflow_version()
        created = datetime.datetime.now(datetime.timezone.utc).isoformat()
        rows = []
        for key, value in items:
            key_text = canonical_key(key)
            value_text = _to_json(value, "value")
            rows.append(
                (key_text, version, value_text, _digest(key_text, value_text), created)
            )
        if not rows:
            return

        with self._lock:
            if not self._writable:
                return
            conn = self._connect(create=True)
            if conn is None:
                return
            try:
                with _immediate_transaction(conn):
                    conn.executemany(
                        "INSERT OR REPLACE INTO entries "
                        "(key, version, value, digest, created) "
                        "VALUES (?, ?, ?, ?, ?)",
                        rows,
                    )
            except sqlite3.DatabaseError as exc:
                self._database_error(exc)

    # -- maintenance ---------------------------------------------------------

    def _strict_connection(self) -> sqlite3.Connection | None:
        """Return a connection, ``None`` for a missing file, or raise CacheError."""
        if self.path.is_dir():
            raise CacheError(f"{self.path} is a directory; the cache path is a file")
        parent = self.path.parent
        if parent.exists() and not parent.is_dir():
            raise CacheError(f"{self.path}: {parent} is not a directory")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CacheWarning)
            conn = self._connect(create=False)
        if conn is None and self._problem is None and self.path.exists():
            raise CacheError(f"{self.path} is busy; try again")
        if self._problem is not None:
            raise CacheError(
                f"{self.path} is not a usable feynflow cache: {self._problem}"
            )
        return conn

    def info(self) -> dict:
        """Describe the cache file.

        Returns
        -------
        dict
            ``path`` (str), ``exists`` (bool), ``entries`` (int), ``bytes``
            (size of the file and its write-ahead log), ``versions`` (entries
            per feynflow version).

        Raises
        ------
        CacheError
            If the path is a directory or the file is not a usable feynflow
            cache of this schema.
        """
        with self._lock:
            conn = self._strict_connection()
            versions: dict[str, int] = {}
            if conn is not None:
                try:
                    versions = dict(
                        conn.execute(
                            "SELECT version, count(*) FROM entries GROUP BY version "
                            "ORDER BY version"
                        ).fetchall()
                    )
                except sqlite3.DatabaseError as exc:
                    raise CacheError(f"{self.path} cannot be read: {exc}") from None
        size = 0
        for file in (self.path, self.path.with_name(self.path.name + "-wal")):
            with contextlib.suppress(OSError):
                size += file.stat().st_size
        return {
            "path": str(self.path),
            "exists": self.path.exists(),
            "entries": sum(versions.values()),
            "bytes": size,
            "versions": versions,
        }

    def clear(self, stale_only: bool = False) -> int:
        """Remove stored entries; return how many were removed.

        A damaged feynflow cache (truncated, unreadable, another schema
        version, or an empty file) is deleted and 0 is returned; the next
        :meth:`put` creates a new one.

        Parameters
        ----------
        stale_only : bool, default False
            Remove only the entries written by other feynflow versions (which
            this version never reads).

        Returns
        -------
        int
            The number of entries removed.

        Raises
        ------
        CacheError
            If the path is a directory, its directory is not writable, the
            file was not written by feynflow, or the entries cannot be
            deleted.
        """
        with self._lock:
            try:
                conn = self._strict_connection()
            except CacheError:
                if self._problem is None or not self._resettable:
                    if self._problem is not None:
                        raise CacheError(
                            f"refusing to clear {self.path}: {self._problem}; "
                            "remove it yourself or use another cache path"
                        ) from None
                    raise
                self._reset()
                return 0
            if conn is None:
                parent = self.path.parent
                if parent.is_dir() and not os.access(parent, os.W_OK):
                    raise CacheError(f"{parent} is not writable")
                return 0

            query = "DELETE FROM entries"
            params: tuple = ()
            if stale_only:
                query += " WHERE version != ?"
                params = (_feynflow_version(),)
            try:
                with _immediate_transaction(conn):
                    removed = conn.execute(query, params).rowcount
            except sqlite3.DatabaseError as exc:
                raise CacheError(f"cannot clear {self.path}: {exc}") from None
            try:
                # Give the space back; another process's open transaction
                # makes this fail harmlessly.
                conn.execute("VACUUM")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.DatabaseError as exc:
                logger.info("not compacting %s: %s", self.path, exc)
        logger.info("removed %d entries from %s", removed, self.path)
        return removed

    def _reset(self) -> None:
        logger.warning("deleting damaged coefficient cache %s", self.path)
        self._drop_connection()
        for suffix in ("", "-wal", "-shm"):
            file = self.path.with_name(self.path.name + suffix)
            try:
                file.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise CacheError(f"cannot delete {file}: {exc.strerror}") from None
        self._problem = None
        self._resettable = False
        self._writable = True

    def close(self) -> None:
        """Close the database connection (reopened on the next use)."""
        with self._lock:
            self._drop_connection()

    def __enter__(self) -> CoefficientCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __getstate__(self) -> dict:
        # Sent to worker processes without its connection or lock.
        state = self.__dict__.copy()
        state.update(_conn=None, _pid=None, _lock=None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"CoefficientCache({str(self.path)!r})"


class _SchemaMismatch(Exception):
    """The file is a feynflow cache of another layout."""


class _immediate_transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception.

    The write lock is requested in short attempts, so that Ctrl-C is not held
    up for the whole busy timeout inside SQLite.  ``BaseException`` is caught
    so that ``KeyboardInterrupt`` rolls back too.  The connection must be in
    autocommit mode (``isolation_level=None``).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise

    def __exit__(self, exc_type: type | None, *rest: object) -> None:
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
                return
            except BaseException:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")


def open_cache(
    path: str | os.PathLike | None = None, enabled: bool = True
) -> CoefficientCache | NullCache:
    """Return the cache to use: a :class:`CoefficientCache` or a :class:`NullCache`.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The SQLite file; default :func:`default_cache_path`.
    enabled : bool, default True
        ``False`` (the ``--no-cache`` choice) gives a :class:`NullCache`.

    Returns
    -------
    CoefficientCache or NullCache

    Examples
    --------
    >>> open_cache(enabled=False).get({"nu": 2}) is None
    True
    """
    if not enabled:
        return NullCache()
    return CoefficientCache(path)
