"""Every state store (local folder, S3 over HTTP): key semantics, blobs, bad keys, and races between real processes."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphbuild.errors import StateError
from graphbuild.state import LocalStore, StateReader, StateStore, check_path
from tests.state.conftest import StoreSpec, race, raw_put

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


def test_every_store_implements_both_protocols(store):
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


def test_list_is_a_sorted_string_prefix_and_hides_the_store_own_files(store, store_spec):
    for key in ("envs/prod/pointer.json", "envs/dev/pointer.json", "envs/dev/journal/p.jsonl", "audit/log.jsonl"):
        store.write(key, b"x")
    store.put_blob(b"blob")
    with store.lock("audit/log.jsonl"):
        pass
    assert store.list() == ["audit/log.jsonl", "envs/dev/journal/p.jsonl", "envs/dev/pointer.json", "envs/prod/pointer.json"]
    assert store.list("envs/dev/") == ["envs/dev/journal/p.jsonl", "envs/dev/pointer.json"]
    assert store.list("envs/d") == ["envs/dev/journal/p.jsonl", "envs/dev/pointer.json"]
    assert store.list("nothing/") == [] and store.list("blobs/") == []
    assert store_spec.fresh().open().list() == []


def test_append_line_keeps_a_torn_line_apart(store):
    store.append_line("j.jsonl", "one")
    raw_put(store, "j.jsonl", b'one\n{"torn')  # a crash mid-append (the local store), or another writer
    store.append_line("j.jsonl", "two")
    assert store.read("j.jsonl") == b'one\n{"torn\ntwo\n'
    with pytest.raises(StateError, match="newline"):
        store.append_line("j.jsonl", "three\nfour")


def test_a_key_cannot_also_be_a_folder(store):
    if not isinstance(store, LocalStore):
        pytest.skip("a folder's constraint: S3 keys may nest (graphbuild never writes such a pair)")
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
    if isinstance(store, LocalStore):  # the S3 layout: test_s3.py::test_the_layout_under_the_prefix
        assert (store.root / "blobs" / digest[:2] / digest).is_file()

    raw_put(store, f"blobs/{digest[:2]}/{digest}", b"pay1oad")  # one bit off
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


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=bad_paths())
def test_bad_keys_are_refused_by_every_store_before_any_request(store, path):
    for call in (
        lambda: store.read(path),
        lambda: store.write(path, b"x"),
        lambda: store.create(path, b"x"),
        lambda: store.compare_and_swap(path, b"x", b"y"),
        lambda: store.append_line(path, "x"),
        lambda: store.lock(path).__enter__(),
    ):
        with pytest.raises(StateError, match="invalid state key"):
            call()
    assert store.list() == []


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contents=st.dictionaries(GOOD.filter(lambda p: not p.startswith("blobs")), st.binary(max_size=32), max_size=4))
def test_good_keys_round_trip(store_spec, contents):
    # keys that are a folder of another key cannot coexist; keep the first of such a pair
    keys: dict[str, bytes] = {}
    for key, data in contents.items():
        if not any(k.startswith(key + "/") or key.startswith(k + "/") for k in keys):
            keys[key] = data
    store = store_spec.fresh().open()
    for key, data in keys.items():
        assert store.create(key, data)
    assert store.list() == sorted(keys)
    for key, data in keys.items():
        assert store.read(key) == data


KEYS = st.sampled_from(["envs/dev/pointer.json", "envs/dev/lease.json", "audit/log.jsonl", "plans/p1.json"])
OPS = st.lists(st.tuples(st.sampled_from(["write", "create", "cas", "cas-absent", "append"]), KEYS,
                         st.binary(max_size=6), st.text(alphabet="ab{}:1", max_size=5)), max_size=20)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_every_store_behaves_like_a_dictionary_of_bytes(store_spec, ops):
    """Model-based: any sequence of writes, creates, swaps and appends leaves what a dict would hold,
    and each call's answer is the dict's."""
    store, model = store_spec.fresh().open(), {}
    for op, key, data, line in ops:
        held = model.get(key)
        if op == "write":
            store.write(key, data)
            model[key] = data
        elif op == "create":
            assert store.create(key, data) is (held is None)
            model.setdefault(key, data)
        elif op == "cas":
            expected = held if data[:1] != b"x" else b"x" + (held or b"")  # right, or (sometimes) wrong
            assert store.compare_and_swap(key, expected, data) is (expected == held)
            model[key] = data if expected == held else held
        elif op == "cas-absent":
            assert store.compare_and_swap(key, None, data) is (held is None)
            model.setdefault(key, data)
        else:
            store.append_line(key, line)
            before = held or b""
            model[key] = (before if not before or before.endswith(b"\n") else before + b"\n") + line.encode() + b"\n"
        model = {k: v for k, v in model.items() if v is not None}
    assert store.list() == sorted(model)
    assert {k: store.read(k) for k in model} == model


# races between real processes


def _create(index: int, spec: StoreSpec) -> bool:
    return spec.open().create("envs/dev/claim", f"process {index}".encode())


def _cas_from_absent(index: int, spec: StoreSpec) -> bool:
    return spec.open().compare_and_swap("envs/dev/pointer.json", None, f"{index}".encode())


def _increment(index: int, spec: StoreSpec, times: int) -> int:
    store, swaps = spec.open(), 0
    while swaps < times:
        raw = store.read("counter")
        if store.compare_and_swap("counter", raw, str(int(raw or b"0") + 1).encode()):
            swaps += 1
    return swaps


def _append(index: int, spec: StoreSpec, times: int) -> None:
    store = spec.open()
    for n in range(times):
        store.append_line("log.jsonl", f"{index}:{n}:" + "x" * 200)


def _put(index: int, spec: StoreSpec) -> str:
    return spec.open().put_blob(b"the same artifact" * 1000)


def test_concurrent_create_has_exactly_one_winner(store_spec):
    results = race(_create, 6, store_spec)
    winners = [i for i, (status, won) in enumerate(results) if status == "ok" and won]
    assert all(status == "ok" for status, _ in results)
    assert len(winners) == 1
    assert store_spec.open().read("envs/dev/claim") == f"process {winners[0]}".encode()


def test_concurrent_compare_and_swap_from_absent_has_exactly_one_winner(store_spec):
    results = race(_cas_from_absent, 6, store_spec)
    winners = [i for i, (status, won) in enumerate(results) if status == "ok" and won]
    assert len(winners) == 1
    assert store_spec.open().read("envs/dev/pointer.json") == str(winners[0]).encode()


def test_concurrent_compare_and_swap_loses_no_update(store_spec):
    results = race(_increment, 4, store_spec, 25)
    assert [r for r in results] == [("ok", 25)] * 4
    assert store_spec.open().read("counter") == b"100"


def test_concurrent_appends_never_interleave(store_spec):
    assert all(status == "ok" for status, _ in race(_append, 4, store_spec, 40))
    lines = store_spec.open().read("log.jsonl").decode().splitlines()
    assert len(lines) == 160
    assert sorted(lines) == sorted(f"{i}:{n}:" + "x" * 200 for i in range(4) for n in range(40))


def test_concurrent_put_blob_stores_one_intact_blob(store_spec):
    results = race(_put, 4, store_spec)
    assert len({value for _, value in results}) == 1
    assert store_spec.open().get_blob(results[0][1]) == b"the same artifact" * 1000
