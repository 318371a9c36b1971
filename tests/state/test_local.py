"""The local state store: key semantics, blobs, bad keys, and races between real processes."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphbuild.errors import StateError
from graphbuild.state import LocalStore, StateReader, StateStore, check_path
from tests.state.conftest import race

PART = st.text(alphabet="abcxyz019-_.", min_size=1, max_size=8).filter(lambda p: not p.startswith("."))
GOOD = st.lists(PART, min_size=1, max_size=4).map("/".join)
BAD_PART = st.one_of(
    st.sampled_from(["", ".", "..", ".hidden", ".locks", "a\\b", "tab\there", "nul\x00", "x" * 201]),
    st.text(min_size=1, max_size=3).map(lambda t: "." + t),
)


@st.composite
def bad_paths(draw) -> str:
    before = draw(st.lists(PART, max_size=2))
    after = draw(st.lists(PART, max_size=2))
    path = "/".join([*before, draw(BAD_PART), *after])
    return draw(st.sampled_from([path, "/" + path, path])) if path else path


def test_the_local_store_implements_both_protocols(store):
    assert isinstance(store, StateReader) and isinstance(store, StateStore)


def test_read_write_and_offsets(store):
    assert store.read("envs/dev/pointer.json") is None
    store.write("envs/dev/pointer.json", b"one")
    store.write("envs/dev/pointer.json", b"two!")
    assert store.read("envs/dev/pointer.json") == b"two!"
    assert store.read("envs/dev/pointer.json", 2) == b"o!"
    assert store.read("envs/dev/pointer.json", 99) == b""
    assert store.read("envs") is None  # a folder of keys is not a key


def test_create_only_once(store):
    assert store.create("plans/p1.json", b"first") is True
    assert store.create("plans/p1.json", b"second") is False
    assert store.read("plans/p1.json") == b"first"
    assert store.list("plans/") == ["plans/p1.json"]  # no temporary file left behind


def test_compare_and_swap(store):
    assert store.compare_and_swap("k", b"x", b"y") is False  # absent, expected bytes
    assert store.compare_and_swap("k", None, b"a") is True
    assert store.compare_and_swap("k", None, b"b") is False  # present, expected absent
    assert store.compare_and_swap("k", b"zzz", b"b") is False
    assert store.compare_and_swap("k", b"a", b"b") is True
    assert store.read("k") == b"b"


def test_list_is_a_sorted_string_prefix_and_hides_the_store_own_files(store):
    for key in ("envs/prod/pointer.json", "envs/dev/pointer.json", "envs/dev/journal/p.jsonl", "audit/log.jsonl"):
        store.write(key, b"x")
    store.put_blob(b"blob")
    with store.lock("audit/log.jsonl"):
        pass
    assert store.list() == ["audit/log.jsonl", "envs/dev/journal/p.jsonl", "envs/dev/pointer.json", "envs/prod/pointer.json"]
    assert store.list("envs/dev/") == ["envs/dev/journal/p.jsonl", "envs/dev/pointer.json"]
    assert store.list("envs/d") == ["envs/dev/journal/p.jsonl", "envs/dev/pointer.json"]
    assert store.list("nothing/") == [] and store.list("blobs/") == []
    assert LocalStore(store.root / "absent").list() == []


def test_append_line_keeps_a_torn_line_apart(store):
    store.append_line("j.jsonl", "one")
    with open(store.root / "j.jsonl", "ab") as handle:
        handle.write(b'{"torn')  # a crash mid-append
    store.append_line("j.jsonl", "two")
    assert store.read("j.jsonl") == b'one\n{"torn\ntwo\n'
    with pytest.raises(StateError, match="newline"):
        store.append_line("j.jsonl", "three\nfour")


def test_a_key_cannot_also_be_a_folder(store):
    store.write("envs/dev", b"x")
    with pytest.raises(StateError, match="folder"):
        store.write("envs/dev/pointer.json", b"y")
    with pytest.raises(StateError):
        store.create("envs/dev/pointer.json", b"y")


def test_blobs_are_content_addressed_and_verified(store):
    digest = store.put_blob(b"payload")
    assert digest == hashlib.sha256(b"payload").hexdigest()
    assert store.put_blob(b"payload") == digest
    assert store.has_blob(digest) and store.get_blob(digest) == b"payload"
    assert (store.root / "blobs" / digest[:2] / digest).is_file()

    (store.root / "blobs" / digest[:2] / digest).write_bytes(b"pay1oad")  # one bit off
    with pytest.raises(StateError, match="corrupt") as error:
        store.get_blob(digest)
    assert error.value.fix
    assert store.put_blob(b"payload") == digest  # storing it again repairs it
    assert store.get_blob(digest) == b"payload"

    missing = hashlib.sha256(b"never stored").hexdigest()
    assert not store.has_blob(missing)
    with pytest.raises(StateError, match="missing"):
        store.get_blob(missing)
    for bad in ("", "abc", digest.upper(), "../" + digest[3:]):
        with pytest.raises(StateError, match="digest"):
            store.get_blob(bad)


def test_blobs_are_not_keys(store):
    with pytest.raises(StateError, match="reserved"):
        store.write("blobs/aa/bb", b"x")


@settings(max_examples=150, deadline=None)
@given(bad_paths())
def test_bad_keys_are_refused_everywhere(path):
    with pytest.raises(StateError, match="invalid state key"):
        check_path(path)
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(Path(tmp) / "state")
        for call in (
            lambda: store.read(path),
            lambda: store.write(path, b"x"),
            lambda: store.create(path, b"x"),
            lambda: store.compare_and_swap(path, None, b"x"),
            lambda: store.append_line(path, "x"),
            lambda: store.lock(path).__enter__(),
        ):
            with pytest.raises(StateError):
                call()
        assert os.listdir(tmp) in ([], ["state"])
        assert store.list() == []


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(GOOD.filter(lambda p: not p.startswith("blobs")), st.binary(max_size=32), max_size=4))
def test_good_keys_round_trip(contents):
    # keys that are a folder of another key cannot coexist; keep the first of such a pair
    keys: dict[str, bytes] = {}
    for key, data in contents.items():
        if not any(k.startswith(key + "/") or key.startswith(k + "/") for k in keys):
            keys[key] = data
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(tmp)
        for key, data in keys.items():
            assert store.create(key, data)
        assert store.list() == sorted(keys)
        for key, data in keys.items():
            assert store.read(key) == data


# races between real processes


def _create(index: int, root: str) -> bool:
    return LocalStore(Path(root)).create("envs/dev/claim", f"process {index}".encode())


def _cas_from_absent(index: int, root: str) -> bool:
    return LocalStore(Path(root)).compare_and_swap("envs/dev/pointer.json", None, f"{index}".encode())


def _increment(index: int, root: str, times: int) -> int:
    store, swaps = LocalStore(Path(root)), 0
    while swaps < times:
        raw = store.read("counter")
        if store.compare_and_swap("counter", raw, str(int(raw or b"0") + 1).encode()):
            swaps += 1
    return swaps


def _append(index: int, root: str, times: int) -> None:
    store = LocalStore(Path(root))
    for n in range(times):
        store.append_line("log.jsonl", f"{index}:{n}:" + "x" * 200)


def _put(index: int, root: str) -> str:
    return LocalStore(Path(root)).put_blob(b"the same artifact" * 1000)


def test_concurrent_create_has_exactly_one_winner(tmp_path):
    results = race(_create, 6, str(tmp_path))
    winners = [i for i, (status, won) in enumerate(results) if status == "ok" and won]
    assert all(status == "ok" for status, _ in results)
    assert len(winners) == 1
    assert LocalStore(tmp_path).read("envs/dev/claim") == f"process {winners[0]}".encode()


def test_concurrent_compare_and_swap_from_absent_has_exactly_one_winner(tmp_path):
    results = race(_cas_from_absent, 6, str(tmp_path))
    winners = [i for i, (status, won) in enumerate(results) if status == "ok" and won]
    assert len(winners) == 1
    assert LocalStore(tmp_path).read("envs/dev/pointer.json") == str(winners[0]).encode()


def test_concurrent_compare_and_swap_loses_no_update(tmp_path):
    results = race(_increment, 4, str(tmp_path), 25)
    assert [r for r in results] == [("ok", 25)] * 4
    assert LocalStore(tmp_path).read("counter") == b"100"


def test_concurrent_appends_never_interleave(tmp_path):
    assert all(status == "ok" for status, _ in race(_append, 4, str(tmp_path), 40))
    lines = LocalStore(tmp_path).read("log.jsonl").decode().splitlines()
    assert len(lines) == 160
    assert sorted(lines) == sorted(f"{i}:{n}:" + "x" * 200 for i in range(4) for n in range(40))


def test_concurrent_put_blob_stores_one_intact_blob(tmp_path):
    results = race(_put, 4, str(tmp_path))
    assert len({value for _, value in results}) == 1
    assert LocalStore(tmp_path).get_blob(results[0][1]) == b"the same artifact" * 1000
