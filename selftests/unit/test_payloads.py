"""Payload validation: problems are named, and nothing the broker can deliver makes a validator raise."""

from __future__ import annotations

import json
import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jetson_hil.payloads import (
    MISSING,
    changes_per_minute,
    check_embedding,
    check_value,
    constant_fraction,
    decode,
    embedding_vector,
    get_path,
    rate_hz,
    seq_gaps,
    seq_resets,
)
from jetson_hil.profile import FieldPaths

FIELDS = FieldPaths()
DIM = 8


def payload(vector, **extra) -> dict:
    return {"embedding": vector, "seq": 1, "ts": 1.0, **extra}


def problems(obj, dim: int = DIM) -> list[str]:
    return check_embedding(obj, FIELDS, expect_dim=dim, norm_min=0.01, norm_max=1000.0)


# ------------------------------------------------------------------------------------------ get_path


def test_get_path() -> None:
    obj = {"locations": {"current": "menu", "history": ["a", "b"]}, "n": None}
    assert get_path(obj, "locations.current") == "menu"
    assert get_path(obj, "locations.history.1") == "b"
    assert get_path(obj, "locations.history.-1") == "b"
    assert get_path(obj, "n") is None
    assert get_path(obj, "locations.missing") is MISSING
    assert get_path(obj, "locations.history.5") is MISSING
    assert get_path(obj, "locations.current.x") is MISSING
    assert get_path(obj, "nope", default=42) == 42
    assert get_path([1, 2], "0") == 1
    assert get_path("text", "0") is MISSING


# --------------------------------------------------------------------------------------------- decode


def test_decode_object() -> None:
    assert decode(b'{"a": 1}') == ({"a": 1}, None)
    assert decode('{"a": 1}') == ({"a": 1}, None)
    assert decode(bytearray(b'{"a": 1}')) == ({"a": 1}, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\xff\xfe{}", "payload is not UTF-8 (byte 0xff at offset 0)"),
        (b'{"a": "\xc3"}', "payload is not UTF-8"),
        (b"", "payload is empty"),
        (b"   ", "payload is empty"),
        (b"{not json", "payload is invalid JSON"),
        (b'{"a": 1} trailing', "payload is invalid JSON"),
        (b"[1, 2, 3]", "payload is a JSON array, expected an object"),
        (b'"text"', "payload is a JSON string, expected an object"),
        (b"42", "payload is a JSON number, expected an object"),
        (b"null", "payload is a JSON null, expected an object"),
        (b"true", "payload is a JSON boolean, expected an object"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a": ' + b"9" * 5000 + b"}", "payload is invalid JSON"),
    ],
)
def test_decode_problems(raw: bytes, expected: str) -> None:
    obj, problem = decode(raw)
    assert obj is None
    assert problem is not None and expected in problem


def test_decode_accepts_nan_and_infinity_as_values() -> None:
    obj, problem = decode(b'{"embedding": [NaN, Infinity, -Infinity]}')
    assert problem is None
    assert math.isnan(obj["embedding"][0]) and obj["embedding"][1] == math.inf


def test_decode_size_limit() -> None:
    obj, problem = decode(b"{}" + b" " * 100, max_bytes=10)
    assert obj is None and problem == "payload is 102 bytes, over the 10-byte limit"


def test_ten_megabyte_payloads_are_fast_and_safe() -> None:
    vector = [0.001 * (i % 1000) for i in range(1_200_000)]
    raw = json.dumps(payload(vector)).encode()
    assert len(raw) > 10_000_000
    start = time.monotonic()
    obj, problem = decode(raw)
    assert problem is None
    found = problems(obj, dim=768)
    assert found == ["embedding: length 1200000, expected dim 768"]
    assert embedding_vector(obj, FIELDS) is not None
    garbage = bytes(range(256)) * 40_000
    assert decode(garbage)[0] is None
    deep = b'{"a":' * 2_000_000 + b"1" + b"}" * 2_000_000
    assert decode(deep)[0] is None
    assert time.monotonic() - start < 60  # a hang guard: about 1 s on a loaded 2-core machine


# ------------------------------------------------------------------------------------ check_embedding


def test_sane_embedding_has_no_problems() -> None:
    assert problems(payload([0.1] * DIM)) == []
    assert problems(payload([1] * DIM)) == []


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"seq": 1}, ["embedding: missing, expected a list of 8 numbers"]),
        (payload("0.1,0.2"), ["embedding: a JSON string ('0.1,0.2'), expected a list of 8 numbers"]),
        (payload({"0": 1}), ["embedding: a JSON object ({'0': 1}), expected a list of 8 numbers"]),
        (payload(None), ["embedding: a JSON null (None), expected a list of 8 numbers"]),
        (payload([0.1] * 4), ["embedding: length 4, expected dim 8"]),
        (payload([]), ["embedding: length 0, expected dim 8"]),
        (payload([0.0] * DIM), ["embedding: all 8 values are zero, expected a non-zero embedding"]),
        (payload([1e-5] * DIM), ["embedding: L2 norm 2.82843e-05, expected within [0.01, 1000]"]),
        (payload([1e3] * DIM), ["embedding: L2 norm 2828.43, expected within [0.01, 1000]"]),
        (
            payload([0.1] * 7 + [True]),
            ["embedding: 1 of 8 elements are not numbers (first at [7]: True), expected numbers"],
        ),
        (
            payload([0.1] * 6 + ["x", None]),
            ["embedding: 2 of 8 elements are not numbers (first at [6]: 'x'), expected numbers"],
        ),
        (
            payload([math.nan] + [0.1] * 7),
            ["embedding: 1 of 8 values are not finite (first at [0]: nan), expected finite numbers"],
        ),
        (
            payload([0.1] * 7 + [-math.inf]),
            ["embedding: 1 of 8 values are not finite (first at [7]: -inf), expected finite numbers"],
        ),
        (payload([10**400] + [0.1] * 7), ["embedding: 1 of 8 values are not finite"]),
        (payload([0.1] * DIM, dim=384), ["dim: 384, expected 8"]),
        (payload([0.1] * DIM, dim="8"), ["dim: '8', expected 8"]),
        ([1, 2], ["payload is a JSON array, expected an object with embedding"]),
        (None, ["payload is a JSON null, expected an object with embedding"]),
    ],
)
def test_embedding_problems(obj, expected: list[str]) -> None:
    found = problems(obj)
    assert len(found) == len(expected), found
    for seen, want in zip(found, expected, strict=True):
        assert seen.startswith(want), (seen, want)


def test_all_problems_reported_together() -> None:
    found = problems(payload([math.nan, "x", 0.1], dim=3))
    assert len(found) == 4
    assert [p.split(":")[0] for p in found] == ["dim", "embedding", "embedding", "embedding"]


def test_nested_field_paths_and_plain_path() -> None:
    fields = FieldPaths(embedding="out.vec", dim="out.dim")
    obj = {"out": {"vec": [0.5] * DIM, "dim": DIM}}
    assert check_embedding(obj, fields, DIM, 0.01, 1000) == []
    assert check_embedding(obj, "out.vec", DIM, 0.01, 1000) == []
    assert check_embedding(obj, "vec", DIM, 0.01, 1000) == ["vec: missing, expected a list of 8 numbers"]


def test_embedding_vector() -> None:
    assert embedding_vector(payload([1, 2.5]), FIELDS) == [1.0, 2.5]
    assert embedding_vector(payload([1, math.nan]), FIELDS) is None
    assert embedding_vector(payload([1, True]), FIELDS) is None
    assert embedding_vector(payload([]), FIELDS) is None
    assert embedding_vector(payload("x"), FIELDS) is None
    assert embedding_vector({"seq": 1}, FIELDS) is None
    assert embedding_vector([1, 2], FIELDS) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=8) | st.dictionaries(st.text(max_size=8), children, max_size=8),
    max_leaves=40,
)
embedding_like = st.lists(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(10**500), max_value=10**500),
        st.booleans(),
        st.none(),
        st.text(max_size=3),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(obj=json_values, vector=embedding_like, dim=st.integers(min_value=1, max_value=12))
def test_validators_never_raise(obj, vector, dim: int) -> None:
    for candidate in (obj, payload(vector), payload(vector, dim=obj), {"embedding": obj}):
        found = check_embedding(candidate, FIELDS, dim, 0.01, 1000.0)
        assert isinstance(found, list) and all(isinstance(p, str) for p in found)
        found_vector = embedding_vector(candidate, FIELDS)
        assert found_vector is None or all(math.isfinite(v) for v in found_vector)
        assert isinstance(check_value(candidate, "device", "cuda"), list)
        get_path(candidate, "a.b.0")


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_decode_never_raises(raw: bytes) -> None:
    obj, problem = decode(raw)
    assert (obj is None) != (problem is None)
    assert obj is None or isinstance(obj, dict)


@settings(max_examples=200, deadline=None)
@given(obj=json_values)
def test_decode_roundtrip_of_any_json(obj) -> None:
    raw = json.dumps({"v": obj}).encode()
    decoded, problem = decode(raw)
    assert problem is None and set(decoded) == {"v"}
    check_embedding(decoded, "v", 3, 0.01, 1000.0)


@settings(max_examples=200, deadline=None)
@given(vector=st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=16))
def test_good_vectors_pass_iff_norm_in_range(vector: list[float]) -> None:
    found = check_embedding(payload(vector), "embedding", len(vector), 0.01, 1e5)
    norm = math.sqrt(sum(v * v for v in vector))
    if not any(vector):
        assert found == [f"embedding: all {len(vector)} values are zero, expected a non-zero embedding"]
    elif 0.01 * (1 + 1e-9) <= norm <= 1e5 * (1 - 1e-9):
        assert found == []
    elif norm < 0.01 * (1 - 1e-9) or norm > 1e5 * (1 + 1e-9):
        assert len(found) == 1 and "L2 norm" in found[0]


# -------------------------------------------------------------------------------------- check_value


def test_check_value() -> None:
    assert check_value({"device": "cuda"}, "device", "cuda") == []
    assert check_value({"device": "cpu"}, "device", "cuda") == ["device: 'cpu', expected 'cuda'"]
    assert check_value({}, "device", "cuda") == ["device: missing, expected 'cuda'"]
    assert check_value({"dim": 768.0}, "dim", 768) == []
    assert check_value({"fp16": 1}, "fp16", True) == ["fp16: 1 (number), expected True"]
    assert check_value({"dim": "768"}, "dim", 768) == ["dim: '768' (string), expected 768"]


# ------------------------------------------------------------------------------------ across frames


def test_constant_fraction() -> None:
    a, b = [1.0, 2.0, 3.0], [1.0, 2.0, 3.5]
    assert constant_fraction([]) == 0.0
    assert constant_fraction([a]) == 0.0
    assert constant_fraction([a, a, a, a]) == 1.0
    assert constant_fraction([a, b, a, b]) == 0.0
    assert constant_fraction([a, a, b, b, a]) == 0.5
    assert constant_fraction([a, [1.0, 2.0, 3.0 + 1e-9]]) == 1.0
    assert constant_fraction([a, None, a]) == 0.0
    assert constant_fraction([a, [1.0, 2.0]]) == 0.0
    assert constant_fraction([[0.0, 0.0], [0.0, 0.0]]) == 1.0


def test_seq_gaps_and_resets() -> None:
    assert seq_gaps([]) == []
    assert seq_gaps([1, 2, 3]) == []
    assert seq_gaps([1, 2, 5, 6]) == [(2, 5)]
    assert seq_gaps([1, 2, 5, 6], max_missing=2) == []
    assert seq_gaps([1, 2, 6], max_missing=2) == [(2, 6)]
    assert seq_gaps([5, 6, 0, 1]) == [(6, 0)]
    assert seq_gaps([5, 5]) == [(5, 5)]
    assert seq_gaps([1, "x", None, True, 2.0, 3.5, 3]) == []
    assert seq_resets([1, 2, 9, 0, 1, 1]) == [(9, 0), (1, 1)]


@given(st.lists(st.one_of(st.integers(), st.floats(), st.none(), st.text(max_size=2), st.booleans())))
def test_seq_helpers_never_raise(seqs) -> None:
    gaps = seq_gaps(seqs, max_missing=2)
    assert set(seq_resets(seqs)) <= set(gaps)


def test_rate_hz() -> None:
    assert rate_hz([]) == 0.0
    assert rate_hz([1.0]) == 0.0
    assert rate_hz([0.0, 0.25, 0.5, 0.75, 1.0]) == pytest.approx(4.0)
    assert rate_hz([1.0, 1.0]) == math.inf
    assert rate_hz([1.0], window_s=10.0) == pytest.approx(0.1)
    assert rate_hz([], window_s=10.0) == 0.0
    assert rate_hz([0.0, math.nan, 1.0, None]) == pytest.approx(1.0)


def test_changes_per_minute() -> None:
    assert changes_per_minute([], []) == 0.0
    assert changes_per_minute(["a", "a", "a"], [0.0, 1.0, 2.0]) == 0.0
    assert changes_per_minute(["a", "b", "a"], [0.0, 30.0, 60.0]) == pytest.approx(2.0)
    assert changes_per_minute(["a", "b"], [0.0, 1.0], window_s=60.0) == pytest.approx(1.0)
    assert changes_per_minute(["a", "b"], [5.0, 5.0]) == math.inf
    assert changes_per_minute([None, "a", {"x": 1}, {"x": 1}], [0.0, 20.0, 40.0, 60.0]) == pytest.approx(2.0)


# --------------------------------------------------------------------------- evidence (windows -> numbers)


def test_percentile() -> None:
    from jetson_hil.evidence import percentile

    assert percentile([], 50) is None
    assert percentile([math.nan, "x", True], 50) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile([5.0], 95) == 5.0
    assert percentile([1.0, 9.0, 3.0], 100) == 9.0 and percentile([1.0, 9.0, 3.0], 0) == 1.0


def test_summarize_embeddings() -> None:
    from jetson_hil.evidence import summarize_embeddings
    from jetson_hil.mqtt_recorder import Message
    from jetson_hil.profile import profile_from_dict

    profile = profile_from_dict({"device": {"name": "d"}, "expect": {"dim": 4}, "limits": {"max_seq_gap": 1}})
    good = [0.1, 0.2, 0.3, 0.4]
    payloads = [
        {"seq": 1, "ts": 100.0, "embedding": good, "device": "cuda", "dtype": "float16", "dim": 4},
        {"seq": 2, "ts": 100.2, "embedding": good, "device": "cuda", "dtype": "float16", "dim": 4},
        {"seq": 5, "ts": 100.4, "embedding": [0.0] * 4, "device": "cpu", "dtype": "float32", "dim": 4},
        {"seq": 0, "ts": "late", "embedding": [0.5] * 4, "device": "cuda"},
    ]
    raw = [json.dumps(p).encode() for p in payloads] + [b"\xff not json"]
    messages = [Message("vision/embeddings", r, 100.05 + 0.2 * i, 5.0 + 0.2 * i, 10 + i) for i, r in enumerate(raw)]
    ev = summarize_embeddings(messages, profile, window_s=10.0)
    assert ev.count == 5 and ev.rate_hz == pytest.approx(0.5)
    assert ev.bad_messages == 2
    assert ev.problems[0] == "message 12: embedding: all 4 values are zero, expected a non-zero embedding"
    assert ev.problems[1].startswith("message 14: payload is not UTF-8")
    assert ev.seq_gaps == [(2, 5), (5, 0)] and ev.seq_resets == [(5, 0)]
    assert ev.constant_fraction == pytest.approx(0.25)
    assert ev.latencies_ms == pytest.approx([50.0, 50.0, 50.0])
    assert ev.latency_p50_ms == pytest.approx(50.0) and ev.latency_max_ms == pytest.approx(50.0)
    assert ev.devices == {"cuda": 3, "cpu": 1}
    assert ev.dtypes == {"float16": 2, "float32": 1, "<missing>": 1}
    assert ev.dims == {"4": 3, "<missing>": 1}
    empty = summarize_embeddings([], profile, window_s=10.0)
    assert empty.count == 0 and empty.rate_hz == 0.0 and empty.latency_p95_ms is None


def test_gpu_loads() -> None:
    from types import SimpleNamespace

    from jetson_hil.evidence import gpu_loads
    from jetson_hil.telemetry import Sample

    samples = [
        Sample(1.0, SimpleNamespace(gpu_load_percent=12), 1.0),
        Sample(2.0, SimpleNamespace(gpu_load_percent=None), 2.0),
        SimpleNamespace(gpu_load_percent=99),
        {"gpu_load_percent": 40},
    ]
    assert gpu_loads(samples) == [12.0, 99.0, 40.0]
