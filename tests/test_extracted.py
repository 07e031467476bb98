"""extractedFields made a column at a time give the sources the dict way gives, row by row, byte for byte."""

from __future__ import annotations

import random

import orjson
from harness import payload_gen

from forwarder import jsjson
from forwarder.documents import extracted

VALUES = [
    *payload_gen.NUMERIC_LOOKING,
    *payload_gen.JSONISH,
    *payload_gen.WORDS,
    "-",
    "@alice",
    '"@quoted"',
    "10.0.0.1",
    "1.2.3",
    "000",
    "9999999999999999999",  # the longest digit string the column way writes itself
    "0000000000000001",
    "9999999999999999",
    "100000000000000000000",  # over 64 bits: the dict way
    "lone \ud800 surrogate",
    "{}",
]


def dict_way(row: dict) -> bytes:
    return jsjson.dumps(extracted.source(row))


def column_way(rows: list[dict]) -> list[bytes]:
    return list(map(jsjson.dumps, extracted.sources(rows)))


def only_the_dict_way(row: dict) -> bool:
    """Every field left out, or a value orjson cannot write."""
    source = extracted.source(row)
    try:
        orjson.dumps(source)
    except TypeError:
        return True
    return not source


def test_each_row_matches_the_dict_way() -> None:
    rng = random.Random(7)
    keys = ["ip", "status", "bytes", "ctx", "msg", "ünï"]
    rows = [{key: rng.choice(VALUES) for key in keys} for _ in range(400)]
    rows += [{"a": rng.choice(VALUES)} for _ in range(50)]  # a second key set in the same payload
    made = extracted._column_sources(rows)
    assert [source is None for source in made] == list(map(only_the_dict_way, rows))
    assert made.count(None) < len(rows)
    assert column_way(rows) == list(map(dict_way, rows))


def access_log_rows(rng: random.Random, count: int) -> list[dict[str, str]]:
    """Columns of one kind each, as a space-delimited filter pattern gives: addresses, words, paths, counts."""
    return [
        {
            "ip": f"10.0.{rng.randint(0, 9)}.{rng.randint(1, 250)}",
            "user": "-",
            "method": rng.choice(["GET", "POST"]),
            "path": f"/api/{rng.choice(payload_gen.WORDS)}",
            "status": rng.choice(["200", "404", "000", "0"]),
            "bytes": rng.choice(["0", "17", "9999999999999999999", "0000000000000001", str(rng.randint(0, 99999))]),
        }
        for _ in range(count)
    ]


def test_columns_of_one_kind_are_written_whole() -> None:
    rows = access_log_rows(random.Random(3), 300)
    assert None not in extracted._column_sources(rows)
    assert column_way(rows) == list(map(dict_way, rows))


def test_an_odd_value_in_a_column_of_one_kind_leaves_the_rest_to_the_column_way() -> None:
    rng = random.Random(5)
    for key in ("ip", "user", "path", "status", "bytes"):
        for odd in [*VALUES, "99999999999999999999"]:  # 20 digits, over 64 bits
            rows = access_log_rows(rng, 20)
            rows[rng.randrange(len(rows))][key] = odd
            made = extracted._column_sources(rows)
            assert [source is None for source in made] == list(map(only_the_dict_way, rows)), (key, odd)
            assert column_way(rows) == list(map(dict_way, rows)), (key, odd)


def test_rows_the_column_way_cannot_make_are_left_to_the_dict_way() -> None:
    rows = [
        {"7": "x", "a": "1"},  # JavaScript puts array indices first
        {"$ctx": "x", "ctx": '{"a":1}'},  # `$ctx` is set twice
        {"@timestamp": "x"},  # the forwarder's own field
        {"n": 5},  # not a string
        {"big": "123456789012345678901234567890"},  # an integer orjson cannot write
        {},
    ]
    assert extracted._column_sources(rows) == [None] * len(rows)
    assert column_way(rows) == list(map(dict_way, rows))
    assert [extracted.source(row) for row in rows[:2]] == [{"7": "x", "a": 1}, {"$ctx": {"a": 1}, "ctx": '{"a":1}'}]


def test_empty_values_are_left_out_and_numbers_are_numbers() -> None:
    (source,) = extracted.sources([{"ip": "10.0.0.1", "user": "", "status": "200", "size": " 1.5e3 "}])
    assert orjson.dumps(source) == b'{"ip":"10.0.0.1","status":200,"size":1500.0}'
