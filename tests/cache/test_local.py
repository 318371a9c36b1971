"""The local cache: hits verified without reading logs, logs verified when read, eviction that frees what it counts."""

import json
import os
import pickle
import time

from graphbuild.cache.definition import ActionKey, CachedResult
from graphbuild.cache.local import LocalCache
from graphbuild.run.action import Outcome
from graphbuild.values import FrozenDict


def result(log: str, summary: str = "ok", artifacts: dict | None = None) -> CachedResult:
    return CachedResult("//x:x#check", Outcome("passed", summary, log, FrozenDict(artifacts or {})), 1.5)


def blob_path(cache: LocalCache, digest: str):
    return cache.directory / "cas" / digest[:2] / digest


def result_path(cache: LocalCache, key: str):
    return cache.directory / "ac" / key[:2] / f"{key}.json"


def log_digest(cache: LocalCache, key: str) -> str:
    return json.loads(result_path(cache, key).read_text())["log"]


def test_a_hit_replays_the_result_and_reads_the_log_only_when_asked(tmp_path):
    cache = LocalCache(tmp_path)
    cache.put(ActionKey("k1"), result("the whole log"))
    hit = cache.get(ActionKey("k1"))
    assert hit is not None and hit.action_id == "//x:x#check" and hit.duration_s == 1.5
    assert hit.outcome.status == "passed" and hit.outcome.summary == "ok"
    assert hit.outcome.log == "the whole log"
    assert hit.outcome == Outcome("passed", "ok", "the whole log") and hash(hit.outcome) == hash(Outcome("passed", "ok", "the whole log"))
    assert pickle.loads(pickle.dumps(hit.outcome)) == Outcome("passed", "ok", "the whole log")
    assert cache.get(ActionKey("missing")) is None and not cache.corrupt


def test_a_log_corrupted_after_the_hit_is_found_when_read_and_drops_the_result(tmp_path):
    cache = LocalCache(tmp_path)
    cache.put(ActionKey("k1"), result("the log"))
    digest = log_digest(cache, "k1")
    hit = cache.get(ActionKey("k1"))  # not read yet: a hit
    blob_path(cache, digest).write_text("tampered")
    assert hit is not None and "missing or corrupt" in hit.outcome.log and "tampered" not in hit.outcome.log
    assert cache.corrupt == ["k1"] and cache.get(ActionKey("k1")) is None  # the next run re-runs it
    assert not blob_path(cache, digest).exists()  # so storing the same log again rewrites the blob
    cache.put(ActionKey("k1"), result("the log"))
    assert cache.get(ActionKey("k1")).outcome.log == "the log"


def test_a_missing_log_or_artifact_and_a_corrupt_result_are_misses(tmp_path):
    cache = LocalCache(tmp_path)
    artifact = cache.put_blob(b"artifact bytes")
    cache.put(ActionKey("a"), result("log a"))
    cache.put(ActionKey("b"), result("", artifacts={"pkg": f"sha256:{artifact}"}))
    cache.put(ActionKey("c"), result("log c"))
    blob_path(cache, log_digest(cache, "a")).unlink()
    blob_path(cache, artifact).unlink()
    path = result_path(cache, "c")
    path.write_text(path.read_text().replace('"ok"', '"OK"'))
    assert [cache.get(ActionKey(k)) for k in "abc"] == [None, None, None]
    assert sorted(cache.corrupt) == ["a", "b", "c"]


def test_an_empty_log_needs_no_blob(tmp_path):
    cache = LocalCache(tmp_path)
    cache.put(ActionKey("k"), result(""))
    blob_path(cache, log_digest(cache, "k")).unlink()
    hit = cache.get(ActionKey("k"))
    assert hit is not None and hit.outcome.log == "" and type(hit.outcome) is Outcome


def test_contains_is_unverified_presence(tmp_path):
    cache = LocalCache(tmp_path)
    cache.put(ActionKey("k"), result("x"))
    assert cache.contains(ActionKey("k")) and not cache.contains(ActionKey("other"))


def test_eviction_counts_the_blobs_a_result_frees_and_keeps_the_recent_results(tmp_path):
    cache = LocalCache(tmp_path, max_bytes=10_000)
    for i in range(10):
        cache.put(ActionKey(f"k{i}"), result(f"{i}" * 2_000))  # a 2 kB log each: 20 kB in all
        past = time.time() - 1000 + i
        os.utime(result_path(cache, f"k{i}"), (past, past))
    shared = cache.put_blob(b"orphan" * 100)  # referenced by nothing: goes first
    assert cache.evict() > 0
    assert cache.size() <= 9_000 and not blob_path(cache, shared).exists()
    kept = [i for i in range(10) if cache.get(ActionKey(f"k{i}")) is not None]
    assert kept and kept == list(range(10 - len(kept), 10))  # the most recently used stay
    assert all(cache.get(ActionKey(f"k{i}")).outcome.log == f"{i}" * 2_000 for i in kept)


def test_eviction_keeps_a_blob_another_result_still_uses(tmp_path):
    cache = LocalCache(tmp_path)
    artifact = cache.put_blob(b"a" * 3_000)  # the older result's own: removing it frees this too
    cache.put(ActionKey("old"), result("same log" * 300, artifacts={"pkg": f"sha256:{artifact}"}))
    past = time.time() - 1000
    os.utime(result_path(cache, "old"), (past, past))
    cache.put(ActionKey("new"), result("same log" * 300, summary="another"))
    cache.max_bytes = cache.size() - 1  # over the limit by a byte: the older result goes, not the log both use
    assert cache.evict() == 1 and cache.get(ActionKey("old")) is None and not blob_path(cache, artifact).exists()
    hit = cache.get(ActionKey("new"))
    assert hit is not None and hit.outcome.log == "same log" * 300


def test_a_result_copied_to_another_keys_path_is_a_miss(tmp_path):
    """Drill: copying a passing result file over another action's key path does not make that one pass."""
    cache = LocalCache(tmp_path)
    passing, failing = ActionKey("aa" + "1" * 62), ActionKey("bb" + "2" * 62)
    cache.put(passing, result("passed log"))
    result_path(cache, failing).parent.mkdir(parents=True)
    result_path(cache, failing).write_bytes(result_path(cache, passing).read_bytes())
    assert cache.contains(failing)  # present, unverified ...
    assert cache.get(failing) is None and cache.record(failing) is None  # ... but not a hit
    assert cache.corrupt == [failing] and not result_path(cache, failing).exists()
    assert cache.get(passing) is not None and cache.record(passing)["key"] == passing


def test_an_entry_keeps_the_signature_it_was_given(tmp_path):
    cache = LocalCache(tmp_path)
    cache.put(ActionKey("k1"), result("log"), signature="ab" * 32)
    cache.put(ActionKey("k2"), result("log"), sign=lambda fields: f"signed {fields['key']} {fields['status']}")
    cache.put(ActionKey("k3"), result("log"))
    assert cache.record(ActionKey("k1"))["signature"] == "ab" * 32
    assert cache.record(ActionKey("k2"))["signature"] == "signed k2 passed"
    assert "signature" not in cache.record(ActionKey("k3"))
    body = json.loads(result_path(cache, "k1").read_text())
    body["signature"] = "cd" * 32  # an edit the entry's own digest catches
    result_path(cache, "k1").write_text(json.dumps(body))
    assert cache.record(ActionKey("k1")) is None
