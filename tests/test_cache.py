"""Tests of the persistent coefficient cache and of ``feynflow cache``."""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from fractions import Fraction

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import feynflow
from feynflow.cache import (
    SCHEMA_VERSION,
    CacheWarning,
    CoefficientCache,
    NullCache,
    canonical_key,
    decode_coefficients,
    default_cache_path,
    encode_coefficients,
    open_cache,
)
from feynflow.cli import main
from feynflow.cli.cache import add_cache_arguments, cache_from_arguments
from feynflow.errors import ParameterError
from feynflow.symbols import H, p, sigma

# The same script runs as every writer process: it stores entries whose value
# is a known function of the key, so a reader can tell a complete entry from a
# damaged one without trusting the cache.
WRITER = textwrap.dedent(
    """
    import os, signal, sys, time
    from feynflow.cache import CoefficientCache

    signal.signal(signal.SIGINT, signal.default_int_handler)
    path, writer, count, batch, go = sys.argv[1:6]
    count, batch = int(count), int(batch)
    while not os.path.exists(go):
        time.sleep(0.001)
    cache = CoefficientCache(path)
    try:
        for start in range(0, count, batch):
            cache.put_many(
                ({"writer": writer, "n": n}, [writer, n, "x" * (n % 97)] * 20)
                for n in range(start, start + batch)
            )
    except KeyboardInterrupt:
        sys.exit(130)
    """
)


def expected_value(writer: str, n: int) -> list:
    return [writer, n, "x" * (n % 97)] * 20


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Point the default cache at a temporary file in every test."""
    path = tmp_path / "user-cache" / "coefficients.sqlite"
    monkeypatch.setenv("FEYNFLOW_CACHE", str(path))
    return path


def start_writers(tmp_path, path, writers, count, batch):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(path), name, str(count), str(batch)]
            + [str(go)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in writers
    ]
    go.touch()
    return processes


def stored_rows(path) -> list[tuple[str, str]]:
    """Read every row with plain sqlite3, bypassing the class under test."""
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return conn.execute("SELECT key, value FROM entries").fetchall()
    finally:
        conn.close()


def assert_only_complete_entries(path) -> int:
    """Every stored row is an entry a writer meant to store; return how many."""
    rows = stored_rows(path)
    for key_text, value_text in rows:
        params = json.loads(key_text)["params"]
        assert json.loads(value_text) == expected_value(params["writer"], params["n"])
    with CoefficientCache(path) as cache:
        for key_text, _ in rows:
            params = json.loads(key_text)["params"]
            assert cache.get(params) == expected_value(params["writer"], params["n"])
    return len(rows)


def compute_with_cache(cache, key, compute):
    """The way the computations use the cache: look up, else compute and store."""
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.put(key, value)
    return value


# -- where the cache lives ---------------------------------------------------


def test_default_path_is_feynflow_cache_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("FEYNFLOW_CACHE", str(tmp_path / "x.sqlite"))
    assert default_cache_path() == tmp_path / "x.sqlite"


def test_default_path_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.delenv("FEYNFLOW_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_path() == tmp_path / "feynflow" / "coefficients.sqlite"


def test_default_path_falls_back_to_home_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("FEYNFLOW_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    expected = tmp_path / ".cache" / "feynflow" / "coefficients.sqlite"
    assert default_cache_path() == expected


def test_cache_without_path_uses_default(private_cache):
    with CoefficientCache() as cache:
        cache.put({"nu": 2}, 1)
    assert private_cache.is_file()


# -- round trip and keys -----------------------------------------------------

json_data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def shared_file(tmp_path_factory):
    """One file for the property tests: a new file per example is slow."""
    return tmp_path_factory.mktemp("shared") / "c.sqlite"


@settings(max_examples=40, deadline=None)
@given(key=st.dictionaries(st.text(max_size=6), json_data, max_size=5), value=json_data)
def test_stored_value_is_returned_unchanged(shared_file, key, value):
    with CoefficientCache(shared_file) as cache:
        cache.put(key, value)
    with CoefficientCache(shared_file) as cache:
        assert cache.get(key) == value


def test_get_on_missing_file_misses_and_creates_nothing(tmp_path):
    path = tmp_path / "sub" / "c.sqlite"
    with CoefficientCache(path) as cache:
        assert cache.get({"nu": 2}) is None
        assert cache.info()["entries"] == 0
    assert not path.parent.exists()


def test_put_replaces_previous_value(tmp_path):
    with CoefficientCache(tmp_path / "c.sqlite") as cache:
        cache.put({"nu": 2}, [1])
        cache.put({"nu": 2}, [2])
        assert cache.get({"nu": 2}) == [2]
        assert cache.info()["entries"] == 1


@settings(max_examples=30, deadline=None)
@given(
    items=st.dictionaries(st.text(max_size=6), json_data, min_size=1, max_size=6),
    seed=st.integers(0, 10**6),
)
def test_key_order_does_not_matter(shared_file, items, seed):
    shuffled = list(items.items())
    random.Random(seed).shuffle(shuffled)
    assert canonical_key(items) == canonical_key(dict(shuffled))
    with CoefficientCache(shared_file) as cache:
        cache.put(items, "value")
        assert cache.get(dict(shuffled)) == "value"


def test_nested_key_order_does_not_matter():
    a = {"target": {"kind": "identity", "p": 3}, "nu": 2}
    b = {"nu": 2, "target": {"p": 3, "kind": "identity"}}
    assert canonical_key(a) == canonical_key(b)


def test_different_parameters_are_different_entries(tmp_path):
    with CoefficientCache(tmp_path / "c.sqlite") as cache:
        cache.put({"nu": 2, "symmetric": True}, "sym")
        cache.put({"nu": 2, "symmetric": False}, "asym")
        assert cache.get({"nu": 2, "symmetric": True}) == "sym"
        assert cache.get({"nu": 2, "symmetric": False}) == "asym"
        assert cache.get({"nu": 2}) is None


def test_key_holds_version_and_schema():
    stored = json.loads(canonical_key({"nu": 2}))
    assert stored == {
        "feynflow": feynflow.__version__,
        "params": {"nu": 2},
        "schema": SCHEMA_VERSION,
    }


def test_other_feynflow_version_does_not_see_entries(tmp_path, monkeypatch):
    path = tmp_path / "c.sqlite"
    current = feynflow.__version__
    with CoefficientCache(path) as cache:
        cache.put({"nu": 2}, "old result")
    monkeypatch.setattr(feynflow, "__version__", current + ".post1")
    with CoefficientCache(path) as cache:
        assert cache.get({"nu": 2}) is None
        cache.put({"nu": 2}, "new result")
        assert cache.get({"nu": 2}) == "new result"
        info = cache.info()
    assert info["versions"] == {current: 1, current + ".post1": 1}
    assert info["entries"] == 2


def test_clear_stale_keeps_this_version(tmp_path, monkeypatch):
    path = tmp_path / "c.sqlite"
    with CoefficientCache(path) as cache:
        cache.put({"nu": 2}, "old")
        cache.put({"nu": 3}, "old")
    monkeypatch.setattr(feynflow, "__version__", "99.0")
    with CoefficientCache(path) as cache:
        cache.put({"nu": 2}, "new")
        assert cache.clear(stale_only=True) == 2
        assert cache.get({"nu": 2}) == "new"
        assert cache.info()["versions"] == {"99.0": 1}


@pytest.mark.parametrize(
    "key",
    [{"x": Fraction(1, 2)}, {"x": {1, 2}}, {"x": float("nan")}, {1: 2}, [("nu", 2)]],
)
def test_key_that_is_not_json_data_is_refused(tmp_path, key):
    with (
        CoefficientCache(tmp_path / "c.sqlite") as cache,
        pytest.raises(ParameterError),
    ):
        cache.put(key, 1)


def test_value_that_is_not_json_data_is_refused(tmp_path):
    with CoefficientCache(tmp_path / "c.sqlite") as cache:
        with pytest.raises(ParameterError, match="not plain JSON"):
            cache.put({"nu": 2}, Fraction(1, 2))
        assert cache.info()["entries"] == 0


def test_values_are_json_text_not_pickles(tmp_path):
    path = tmp_path / "c.sqlite"
    with CoefficientCache(path) as cache:
        cache.put({"nu": 2}, {"Y": ["1/2", "3"]})
    [(key_text, value_text)] = stored_rows(path)
    assert json.loads(value_text) == {"Y": ["1/2", "3"]}


def test_put_many_stores_every_pair(tmp_path):
    with CoefficientCache(tmp_path / "c.sqlite") as cache:
        cache.put_many(({"n": n}, n * n) for n in range(50))
        assert [cache.get({"n": n}) for n in range(50)] == [n * n for n in range(50)]


def test_interrupted_put_many_stores_nothing(tmp_path):
    def items():
        for n in range(10):
            yield {"n": n}, n
        raise KeyboardInterrupt

    with CoefficientCache(tmp_path / "c.sqlite") as cache:
        cache.put({"before": True}, 1)
        with pytest.raises(KeyboardInterrupt):
            cache.put_many(items())
        assert cache.info()["entries"] == 1


def test_threads_sharing_one_cache_lose_nothing(tmp_path):
    cache = CoefficientCache(tmp_path / "c.sqlite")

    def work(thread):
        for n in range(40):
            cache.put({"thread": thread, "n": n}, [thread, n])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(
        cache.get({"thread": i, "n": n}) == [i, n] for i in range(4) for n in range(40)
    )
    cache.close()


def test_pickled_cache_reopens_the_same_file(tmp_path):
    cache = CoefficientCache(tmp_path / "c.sqlite")
    cache.put({"nu": 2}, "x")
    copy = pickle.loads(pickle.dumps(cache))
    assert copy.get({"nu": 2}) == "x"
    copy.close()
    cache.close()


def test_null_cache_stores_nothing():
    cache = open_cache(enabled=False)
    assert isinstance(cache, NullCache)
    with cache:
        cache.put({"nu": 2}, [1])
        cache.put_many([({"nu": 3}, [1])])
        assert cache.get({"nu": 2}) is None
        assert cache.info()["entries"] == 0
        assert cache.clear() == 0
    with pytest.raises(ParameterError):
        NullCache().put({"nu": 2}, Fraction(1))


def test_null_cache_has_the_public_interface_of_the_cache():
    public = {name for name in dir(CoefficientCache) if not name.startswith("_")}
    public -= {"path"}
    assert public <= set(dir(NullCache))


# -- coefficients as stored values --------------------------------------------

rationals = st.fractions(max_denominator=10**6).filter(lambda x: x != 0)
monomials = st.tuples(*[st.integers(0, 12)] * 3)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.dictionaries(monomials, rationals, max_size=6), max_size=5))
def test_coefficients_survive_encoding_exactly(term_maps):
    polys = [
        sympy.Poly.from_dict(
            {m: sympy.Rational(c.numerator, c.denominator) for m, c in terms.items()},
            p,
            H,
            sigma,
            domain="QQ",
        )
        for terms in term_maps
    ]
    data = json.loads(json.dumps(encode_coefficients(polys)))
    decoded = decode_coefficients(data)
    assert decoded == polys
    assert all(poly.gens == (p, H, sigma) for poly in decoded)
    # Independently of sympy's equality: the term dictionaries agree.
    for poly, terms in zip(decoded, term_maps, strict=True):
        nonzero = {m: c for m, c in poly.terms() if c != 0}
        assert {m: Fraction(int(c.p), int(c.q)) for m, c in nonzero.items()} == terms


def test_encoded_coefficients_are_exact_text():
    poly = sympy.Poly(sympy.Rational(-(10**30), 7) * p**2 + H * sigma**2, p, H, sigma)
    assert encode_coefficients([poly])["polys"] == [
        [[[0, 1, 2], "1"], [[2, 0, 0], f"-{10**30}/7"]]
    ]


def test_polynomials_in_foreign_symbols_are_refused():
    x = sympy.Symbol("x")
    with pytest.raises(ParameterError):
        encode_coefficients([sympy.Poly(x + 1, x)])
    with pytest.raises(ParameterError):
        encode_coefficients([sympy.Poly(sympy.Symbol("p") + 1, sympy.Symbol("p"))])
    with pytest.raises(ParameterError, match="not rational"):
        encode_coefficients([sympy.Poly(sympy.sqrt(2) * p, p, domain="EX")])


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"gens": ["p"]},
        {"gens": ["p", "q"], "polys": []},
        {"gens": ["p", "p"], "polys": []},
        {"gens": ["p"], "polys": [[[[1], "0.5"]]]},
        {"gens": ["p"], "polys": [[[[1], "0"]]]},
        {"gens": ["p"], "polys": [[[[1], "-0/3"]]]},
        {"gens": ["p"], "polys": [[[[1], "1/0"]]]},
        {"gens": ["p"], "polys": [[[[1], "1/-2"]]]},
        {"gens": ["p"], "polys": [[[[1], " 1"]]]},
        {"gens": ["p"], "polys": [[[[1], "1"], [[1], "2"]]]},
        {"gens": ["p"], "polys": [[[[-1], "1"]]]},
        {"gens": ["p"], "polys": [[[[True], "1"]]]},
        {"gens": ["p"], "polys": [[[[1, 2], "1"]]]},
        {"gens": ["p"], "polys": [[[[1], 1]]]},
        {"gens": ["p"], "polys": [[[1, "1"]]]},
        {"gens": ["p"], "polys": "x"},
        {"gens": ["p"], "polys": [], "extra": 1},
    ],
)
def test_malformed_stored_coefficients_are_refused(data):
    with pytest.raises(ValueError):
        decode_coefficients(data)


def test_wrong_shape_is_a_miss_with_a_warning(tmp_path):
    with CoefficientCache(tmp_path / "c.sqlite") as cache:
        cache.put({"nu": 2}, {"gens": ["p"], "polys": [[[[1], "zero"]]]})
        with pytest.warns(CacheWarning, match="wrong shape"):
            assert cache.get({"nu": 2}, decode=decode_coefficients) is None
        good = encode_coefficients([sympy.Poly(p / 2, p, H, sigma)])
        cache.put({"nu": 2}, good)
        assert cache.get({"nu": 2}, decode=decode_coefficients) == [
            sympy.Poly(p / 2, p, H, sigma)
        ]


# -- damaged entries -----------------------------------------------------------


def tamper(path, sql, *params):
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(sql, params)
    conn.close()


def test_altered_value_is_a_miss_and_is_healed_by_put(tmp_path):
    path = tmp_path / "c.sqlite"
    with CoefficientCache(path) as cache:
        cache.put({"nu": 2}, [1, 2, 3])
    tamper(path, "UPDATE entries SET value = '[1, 2, 4]'")
    with CoefficientCache(path) as cache:
        with pytest.warns(CacheWarning, match="checksum"):
            assert cache.get({"nu": 2}) is None
        cache.put({"nu": 2}, [1, 2, 3])
        assert cache.get({"nu": 2}) == [1, 2, 3]


def test_value_that_is_not_json_is_a_miss(tmp_path, monkeypatch):
    from feynflow import cache as cache_module

    path = tmp_path / "c.sqlite"
    with CoefficientCache(path) as cache:
        cache.put({"nu": 2}, "text")
    key_text = canonical_key({"nu": 2})
    broken = '["unterminated'
    tamper(
        path,
        "UPDATE entries SET value = ?, digest = ?",
        broken,
        cache_module._digest(key_text, broken),
    )
    with CoefficientCache(path) as cache, pytest.warns(CacheWarning, match="JSON"):
        assert cache.get({"nu": 2}) is None


# -- damaged or foreign files ---------------------------------------------------


def make_truncated_cache(path):
    with CoefficientCache(path) as cache:
        cache.put_many(({"n": n}, "v" * 500) for n in range(200))
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(size // 2)


def make_foreign_sqlite(path):
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE photos (name TEXT, data BLOB)")
        conn.execute("INSERT INTO photos VALUES ('holiday', x'00ff')")
    conn.close()


def make_foreign_sqlite_with_same_table(path):
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "CREATE TABLE entries (key TEXT PRIMARY KEY, version TEXT, value TEXT, "
            "digest TEXT, created TEXT)"
        )
    conn.close()


def make_other_schema(path):
    with CoefficientCache(path) as cache:
        cache.put({"nu": 2}, 1)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()


DAMAGE = {
    "random bytes": lambda path: path.write_bytes(random.Random(1).randbytes(5000)),
    "empty file": lambda path: path.write_bytes(b""),
    "text file": lambda path: path.write_text("my notes\n"),
    "sqlite header only": lambda path: path.write_bytes(b"SQLite format 3\x00" + b"\0"),
    "truncated cache": make_truncated_cache,
    "foreign sqlite": make_foreign_sqlite,
    "foreign sqlite, same table": make_foreign_sqlite_with_same_table,
    "other schema version": make_other_schema,
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_unusable_file_warns_once_and_recomputes(tmp_path, damage):
    path = tmp_path / "c.sqlite"
    DAMAGE[damage](path)
    before = path.read_bytes()
    calls = []

    def compute():
        calls.append(1)
        return [1, 2]

    with CoefficientCache(path) as cache:
        with pytest.warns(CacheWarning, match="disabled") as record:
            for _ in range(3):
                assert compute_with_cache(cache, {"n": 1}, compute) == [1, 2]
        assert len(record) == 1
        assert str(path) in str(record[0].message)
    assert len(calls) == 3
    # The file is left exactly as it was: it may be somebody's data.
    assert path.read_bytes() == before


@pytest.mark.parametrize("seed", range(6))
def test_scribbled_cache_never_gives_a_wrong_value(tmp_path, seed):
    path = tmp_path / "c.sqlite"
    values = {n: [n, "w" * (n % 50)] for n in range(150)}
    with CoefficientCache(path) as cache:
        cache.put_many(({"n": n}, value) for n, value in values.items())
    data = bytearray(path.read_bytes())
    rng = random.Random(seed)
    for _ in range(40):
        data[rng.randrange(100, len(data))] = rng.randrange(256)
    path.write_bytes(bytes(data))

    with CoefficientCache(path) as cache, pytest.warns() as record:
        found = {n: cache.get({"n": n}) for n in values}
        warnings_seen = len(record)
    for n, value in found.items():
        assert value is None or value == values[n]
    # Damage that was detected was reported.
    if any(value is None for value in found.values()):
        assert warnings_seen >= 1


def test_truncated_cache_with_a_log_never_gives_a_wrong_value(tmp_path):
    # With a write-ahead log present the header is not trusted, so the damage
    # shows only when a missing page is read.
    path = tmp_path / "c.sqlite"
    make_truncated_cache(path)
    path.with_name(path.name + "-wal").write_bytes(b"")
    with CoefficientCache(path) as cache, pytest.warns(CacheWarning) as record:
        found = [cache.get({"n": n}) for n in range(200)]
        cache.put({"n": 0}, "new")
    assert set(found) <= {None, "v" * 500}
    assert None in found and len(record) == 1


def test_directory_as_cache_path_warns_and_disables(tmp_path):
    with CoefficientCache(tmp_path) as cache:
        with pytest.warns(CacheWarning, match="directory"):
            assert cache.get({"n": 1}) is None
        cache.put({"n": 1}, 1)
        assert cache.get({"n": 1}) is None


def test_uncreatable_directory_warns_and_disables(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with CoefficientCache(blocker / "sub" / "c.sqlite") as cache:
        assert cache.get({"n": 1}) is None
        with pytest.warns(CacheWarning, match="cannot create"):
            cache.put({"n": 1}, 1)
        assert cache.get({"n": 1}) is None


def test_permission_denied_on_creation_warns_and_disables(tmp_path, monkeypatch):
    # What an unwritable directory does, also when the tests run as root.
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("feynflow.cache.tempfile.mkstemp", refuse)
    with CoefficientCache(tmp_path / "c.sqlite") as cache:
        with pytest.warns(CacheWarning, match="Permission denied"):
            cache.put({"n": 1}, 1)
        assert cache.get({"n": 1}) is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="file permissions do not bind the superuser",
)
def test_unwritable_directory_warns_and_disables(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with CoefficientCache(locked / "c.sqlite") as cache:
            with pytest.warns(CacheWarning, match="cannot create"):
                cache.put({"n": 1}, 1)
            assert cache.get({"n": 1}) is None
    finally:
        locked.chmod(0o700)


# -- several processes ------------------------------------------------------------


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(tmp_path):
    # The file does not exist yet: the writers also race to create it.
    path = tmp_path / "new" / "c.sqlite"
    writers = ["a", "b", "c"]
    processes = start_writers(tmp_path, path, writers, count=300, batch=1)
    for process in processes:
        _, errors = process.communicate(timeout=120)
        assert process.returncode == 0, errors
        assert "Warning" not in errors
    assert assert_only_complete_entries(path) == 900
    with CoefficientCache(path) as cache:
        assert all(
            cache.get({"writer": w, "n": n}) == expected_value(w, n)
            for w in writers
            for n in range(300)
        )


def wait_for_entries(path, minimum, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            try:
                conn = sqlite3.connect(path, timeout=5)
                try:
                    (count,) = conn.execute("SELECT count(*) FROM entries").fetchone()
                finally:
                    conn.close()
                if count >= minimum:
                    return
            except sqlite3.OperationalError:
                pass
        time.sleep(0.01)
    raise AssertionError("the writer stored nothing in time")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_writer_leaves_only_complete_batches(tmp_path, sig):
    path = tmp_path / "c.sqlite"
    batch = 50
    [process] = start_writers(tmp_path, path, ["k"], count=10**7, batch=batch)
    wait_for_entries(path, 3 * batch)
    process.send_signal(sig)
    process.communicate(timeout=60)
    assert process.returncode in (-signal.SIGKILL, 130)

    stored = assert_only_complete_entries(path)
    assert stored >= 3 * batch
    # Each put_many is one transaction: only whole batches are present.
    assert stored % batch == 0
    numbers = sorted(json.loads(key)["params"]["n"] for key, _ in stored_rows(path))
    assert numbers == list(range(stored))


# -- the command line ---------------------------------------------------------------


def run_cli(capsys, *argv):
    status = main(["cache", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_info_reports_entries_and_bytes(tmp_path, capsys):
    path = tmp_path / "c.sqlite"
    with CoefficientCache(path) as cache:
        cache.put_many(({"n": n}, n) for n in range(7))
    status, out, _ = run_cli(capsys, "info", "--cache", str(path), "--format", "json")
    report = json.loads(out)
    assert status == 0
    assert report["path"] == str(path)
    assert report["entries"] == 7
    assert report["bytes"] >= path.stat().st_size > 0
    status, out, _ = run_cli(capsys, "info", "--cache", str(path))
    assert status == 0 and "entries:  7" in out


def test_cli_info_uses_feynflow_cache_variable(private_cache, capsys):
    status, out, _ = run_cli(capsys, "info", "--format", "json")
    assert status == 0
    assert json.loads(out) == {
        "path": str(private_cache),
        "exists": False,
        "entries": 0,
        "bytes": 0,
        "versions": {},
    }
    assert not private_cache.exists()


def test_cli_clear_removes_entries(private_cache, capsys):
    with CoefficientCache() as cache:
        cache.put_many(({"n": n}, n) for n in range(5))
    status, out, _ = run_cli(capsys, "clear")
    assert status == 0 and "removed 5 entries" in out
    with CoefficientCache() as cache:
        assert cache.info()["entries"] == 0
        assert cache.get({"n": 1}) is None


def test_cli_clear_resets_a_damaged_cache(tmp_path, capsys):
    path = tmp_path / "c.sqlite"
    make_truncated_cache(path)
    status, out, _ = run_cli(capsys, "clear", "--cache", str(path))
    assert status == 0 and "damaged" in out
    with CoefficientCache(path) as cache:
        cache.put({"n": 1}, 1)
        assert cache.get({"n": 1}) == 1


@pytest.mark.parametrize(
    "damage", ["random bytes", "foreign sqlite", "foreign sqlite, same table"]
)
def test_cli_clear_refuses_a_foreign_file(tmp_path, capsys, damage):
    path = tmp_path / "c.sqlite"
    DAMAGE[damage](path)
    before = path.read_bytes()
    status, out, err = run_cli(capsys, "clear", "--cache", str(path))
    assert status == 2
    assert err.count("\n") == 1 and "refusing" in err
    assert path.read_bytes() == before


@pytest.mark.parametrize("action", ["clear", "info"])
def test_cli_directory_path_is_a_one_line_error(tmp_path, capsys, action):
    status, _, err = run_cli(capsys, action, "--cache", str(tmp_path))
    assert status == 2
    assert err.count("\n") == 1 and "directory" in err


def test_cli_clear_under_a_file_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    status, _, err = run_cli(capsys, "clear", "--cache", str(blocker / "c.sqlite"))
    assert status == 2
    assert err.count("\n") == 1 and "not a directory" in err


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="file permissions do not bind the superuser",
)
def test_cli_clear_in_unwritable_directory_is_a_one_line_error(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        status, _, err = run_cli(capsys, "clear", "--cache", str(locked / "c.sqlite"))
    finally:
        locked.chmod(0o700)
    assert status == 2 and err.count("\n") == 1


def test_cli_bad_format_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["cache", "info", "--format", "xml"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_cache_arguments_choose_the_cache(tmp_path):
    parser = argparse.ArgumentParser()
    add_cache_arguments(parser)
    chosen = cache_from_arguments(parser.parse_args(["--cache", str(tmp_path / "c")]))
    assert isinstance(chosen, CoefficientCache) and chosen.path == tmp_path / "c"
    assert isinstance(
        cache_from_arguments(parser.parse_args(["--no-cache"])), NullCache
    )
    assert cache_from_arguments(parser.parse_args([])).path == default_cache_path()
    with pytest.raises(SystemExit):
        parser.parse_args(["--no-cache", "--cache", "x"])


def test_cache_warning_on_the_command_line_is_one_line(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_cache_arguments(parser)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        cache = cache_from_arguments(parser.parse_args(["--cache", str(tmp_path)]))
        assert cache.get({"nu": 2}) is None
    err = capsys.readouterr().err
    assert err.startswith("feynflow: warning: coefficient cache disabled")
    assert err.count("\n") == 1


def test_loss_coefficients_come_back_equal_from_the_cache(tmp_path):
    loss_coefficients = pytest.importorskip("feynflow.expansion").loss_coefficients
    computed = loss_coefficients(2, 2, symmetric=False)
    key = {"nu": 2, "order": 2, "symmetric": False, "target": "identity"}
    with CoefficientCache(tmp_path / "c.sqlite") as cache:
        cache.put(key, encode_coefficients(computed))
    with CoefficientCache(tmp_path / "c.sqlite") as cache:
        assert cache.get(key, decode=decode_coefficients) == computed


_FORKED_CACHE = None


def _put_from_forked_child(n):
    _FORKED_CACHE.put({"child": n}, n)
    return _FORKED_CACHE.get({"parent": True})


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_cache_inherited_through_fork_opens_its_own_connection(tmp_path):
    import multiprocessing

    global _FORKED_CACHE
    _FORKED_CACHE = CoefficientCache(tmp_path / "c.sqlite")
    try:
        _FORKED_CACHE.put({"parent": True}, "seen")
        with multiprocessing.get_context("fork").Pool(2) as pool:
            assert pool.map(_put_from_forked_child, range(20)) == ["seen"] * 20
        assert [_FORKED_CACHE.get({"child": n}) for n in range(20)] == list(range(20))
    finally:
        _FORKED_CACHE.close()
        _FORKED_CACHE = None


@pytest.mark.parametrize("leading", [False, True])
def test_extending_a_cached_run_averages_only_the_new_orders(
    tmp_path, monkeypatch, leading
):
    expansion = pytest.importorskip("feynflow.expansion")
    path = tmp_path / "c.sqlite"
    expected = expansion.loss_coefficients(3, 3, symmetric=False, leading=leading)
    expansion.loss_coefficients(3, 1, symmetric=False, leading=leading, cache=path)
    averaged = []
    # Levels are averaged by one of two functions: on Diagram objects, or on
    # the compiled loop's classes.
    for name in ("_average_chunk", "_average_keyed_chunk"):
        original = getattr(expansion, name)

        def counting(items, *args, original=original):
            averaged.append(len(items))
            return original(items, *args)

        monkeypatch.setattr(expansion, name, counting)
    again = expansion.loss_coefficients(
        3, 3, symmetric=False, leading=leading, cache=path
    )
    assert again == expected
    # Orders 0 and 1 come from the cache: only orders 2 and 3 are averaged.
    assert len(averaged) == 2


def test_extending_a_cached_leading_coefficients_run_gives_the_same_terms(tmp_path):
    expansion = pytest.importorskip("feynflow.expansion")
    path = tmp_path / "c.sqlite"
    alpha = (2, 1, 0)
    expected = expansion.leading_coefficients(3, 3, alpha, symmetric=False)
    expansion.leading_coefficients(3, 1, alpha, symmetric=False, cache=path)
    again = expansion.leading_coefficients(3, 3, alpha, symmetric=False, cache=path)
    assert again == expected
