"""Reliability of outcome data files: the JSONL dataset loader and the importers of public formats.

Damaged and hostile files (bytes that are not UTF-8, JSON nested thousands deep, integers of
thousands of digits, lone surrogate escapes, NaN where a number belongs, cut-off lines, CSV rows
with extra fields, corrupt gzip streams, hand-edited fields of the wrong type) must raise
:class:`~bestroute.errors.DataFormatError` naming the path and the reason, never another
exception and never a hang. What loads must be valid: every record an importer returns, and every
record the loader accepts, survives ``save_dataset`` and ``load_dataset`` unchanged.

The property-based tests (hypothesis) feed arbitrary bytes and arbitrary JSON/CSV shapes to
:func:`~bestroute.data.dataset.load_dataset` and to each importer through
:func:`~bestroute.data.importers.load_source`. Example counts are modest; the heavier runs are
marked slow. A failing example prints the hypothesis seed to replay it.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bestroute.data.dataset import (
    DatasetValidationError,
    OutcomeRecord,
    load_dataset,
    record_to_dict,
    save_dataset,
)
from bestroute.data.importers import load_source
from bestroute.errors import DataFormatError


def _fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


GOOD = {
    "id": "q1",
    "query": "What is 2+2?",
    "candidates": {"m": {"input_tokens": 3, "samples": [{"output_tokens": 1, "quality": 1.0}]}},
}
GOOD_LINE = json.dumps(GOOD).encode()


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def _with(path: str, value: Any) -> dict[str, Any]:
    """GOOD with the field at ``path`` (``a.b.0.c``) set to ``value``."""
    record = json.loads(GOOD_LINE)
    *parents, leaf = path.split(".")
    node: Any = record
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(leaf) if isinstance(node, list) else leaf] = value
    return record


#: (fault, file bytes, what the message must say about line 1 or 2)
DATASET_FAULTS: list[tuple[str, bytes, str]] = [
    ("bytes that are not UTF-8", GOOD_LINE + b"\n\xff\xfe{}\n", "line 2: not UTF-8 text"),
    ("JSON nested 100000 deep", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (
        "an integer of 5000 digits",
        GOOD_LINE.replace(b'"input_tokens": 3', b'"input_tokens": ' + b"9" * 5000),
        "4300 digits",
    ),
    (
        "an integer too large for a float",
        GOOD_LINE.replace(b'"input_tokens": 3', b'"input_tokens": ' + b"9" * 400),
        "'input_tokens' must be a number",
    ),
    ("a cut-off last line", GOOD_LINE + b"\n" + GOOD_LINE[:-10], "line 2: not valid JSON"),
    ("NaN quality", _json(_with("candidates.m.samples.0.quality", float("nan"))), "'quality'"),
    ("Infinity tokens", _json(_with("candidates.m.input_tokens", float("inf"))), "input_tokens"),
    ("a lone surrogate in the query", _json(_with("query", "\ud800")), "lone surrogate"),
    ("a lone surrogate in metadata", _json({**GOOD, "metadata": {"k": "\udc00"}}), "surrogate"),
    ("a byte-order mark", b"\xef\xbb\xbf" + GOOD_LINE, "BOM"),
    ("a NUL byte", b"\x00" + GOOD_LINE, "not valid JSON"),
    (
        "an empty candidate name",
        _json({**GOOD, "candidates": {" ": GOOD["candidates"]["m"]}}),
        "candidate names",
    ),
    ("a repeated id", GOOD_LINE + b"\n" + GOOD_LINE, "duplicate id"),
    ("a JSON array line", b"[1, 2]", "must be a JSON object"),
    (
        "text in a number field",
        _json(_with("candidates.m.samples.0.output_tokens", "1")),
        "output_tokens",
    ),
    ("a boolean quality", _json(_with("candidates.m.samples.0.quality", True)), "'quality'"),
]


@pytest.mark.parametrize(
    ("content", "reason"),
    [(content, reason) for _, content, reason in DATASET_FAULTS],
    ids=[fault for fault, _, _ in DATASET_FAULTS],
)
def test_a_bad_dataset_fails_at_load_naming_path_line_and_reason(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "outcomes.jsonl"
    path.write_bytes(content)
    with pytest.raises(DatasetValidationError, match=reason) as raised:
        load_dataset(path)
    assert str(path) in str(raised.value) and raised.value.problems


def test_the_sound_dataset_loads(tmp_path: Path) -> None:
    path = tmp_path / "outcomes.jsonl"
    path.write_bytes(GOOD_LINE + b"\n\n" + _json({**GOOD, "id": "q2", "query": "\U0001f600?"}))
    assert [record.id for record in load_dataset(path)] == ["q1", "q2"]


def _assert_round_trips(records: list[OutcomeRecord], folder: Path) -> None:
    """Records that loaded are valid: they save and load back identical."""
    again = load_dataset(save_dataset(records, folder / "round_trip.jsonl"))
    assert [json.dumps(record_to_dict(r), sort_keys=True) for r in again] == [
        json.dumps(record_to_dict(r), sort_keys=True) for r in records
    ]


def _load_or_refuse(load: Callable[[], list[OutcomeRecord]], path: Path) -> None:
    try:
        records = load()
    except DataFormatError as error:
        assert str(path) in str(error)
        event("refused")
        return
    event("loaded some records" if records else "loaded no records")
    _assert_round_trips(records, path.parent)


# -- the dataset loader, fuzzed -------------------------------------------------------------------

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
_FIELDS = st.sampled_from(
    [
        "id",
        "query",
        "candidates",
        "metadata",
        "candidates.m",
        "candidates.m.input_tokens",
        "candidates.m.multi_sample",
        "candidates.m.samples",
        "candidates.m.samples.0",
        "candidates.m.samples.0.output_tokens",
        "candidates.m.samples.0.quality",
        "candidates.m.samples.0.text",
        "candidates.m.samples.0.reward",
    ]
)


def _dataset_case(content: bytes, no_hang: Any) -> None:
    with tempfile.TemporaryDirectory() as scratch, no_hang(60):
        path = Path(scratch) / "outcomes.jsonl"
        path.write_bytes(content)
        _load_or_refuse(lambda: load_dataset(path), path)


@_fuzz(150)
@given(content=st.binary(max_size=400))
def test_fuzzed_bytes_load_as_valid_records_or_raise_data_format_error(
    content: bytes, no_hang: Any
) -> None:
    _dataset_case(content, no_hang)


#: values a field may hold: mostly plausible ones (numbers, text), sometimes anything
_VALUES = st.one_of(
    st.integers(-5, 10**6),
    st.floats(-1.0, 1e6),
    st.text(max_size=10),
    st.sampled_from([None, True, float("nan"), float("inf"), "\ud800", 10**400]),
    _JSON,
)


@_fuzz(150)
@given(
    edits=st.lists(st.tuples(_FIELDS, _VALUES), max_size=2),
    extra_lines=st.lists(
        st.integers(0, 9).map(lambda i: {**GOOD, "id": f"x{i}"}) | _JSON, max_size=2
    ),
)
def test_fuzzed_records_load_as_valid_records_or_raise_data_format_error(
    edits: list[tuple[str, Any]], extra_lines: list[Any], no_hang: Any
) -> None:
    record: Any = json.loads(GOOD_LINE)
    for field, value in edits:
        try:
            record = _with(field, value) if isinstance(record, dict) else record
        except (KeyError, IndexError, TypeError):  # an earlier edit removed the path
            continue
    lines = [json.dumps(record), *(json.dumps(line) for line in extra_lines)]
    _dataset_case("\n".join(lines).encode("utf-8", "surrogatepass"), no_hang)


@pytest.mark.slow
@_fuzz(1500)
@given(content=st.binary(max_size=2000))
def test_many_fuzzed_bytes_load_or_raise_data_format_error(content: bytes, no_hang: Any) -> None:
    _dataset_case(GOOD_LINE + b"\n" + content, no_hang)


# -- the importers, fuzzed ------------------------------------------------------------------------


def _import_case(fmt: str, files: dict[str, bytes], target: str, no_hang: Any) -> None:
    """Write ``files`` into a fresh folder, import ``fmt:<folder>/<target>``: valid or refused."""
    with tempfile.TemporaryDirectory() as scratch, no_hang(60):
        folder = Path(scratch)
        for name, content in files.items():
            (folder / name).write_bytes(content)
        path = folder / target
        _load_or_refuse(lambda: load_source(f"{fmt}:{path}"), folder)


#: (format, file name) for arbitrary bytes
_BYTE_TARGETS = [
    ("multisample", "data.json"),
    ("alpaca_eval", "model.json"),
    ("alpaca_eval", "model.json.gz"),
    ("routellm", "results.csv"),
    ("routerbench", "rows.csv"),
    ("routerbench", "rows.csv.gz"),
    ("jsonl", "outcomes.jsonl"),
]


@_fuzz(150)
@given(
    target=st.sampled_from(_BYTE_TARGETS),
    content=st.binary(max_size=300),
    compress=st.booleans(),
)
def test_fuzzed_bytes_import_as_valid_records_or_raise_data_format_error(
    target: tuple[str, str], content: bytes, compress: bool, no_hang: Any
) -> None:
    fmt, name = target
    if name.endswith(".gz") and compress:
        content = gzip.compress(content)
    _import_case(fmt, {name: content}, name, no_hang)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")


_SCORES = st.dictionaries(
    st.sampled_from(["gpt-4", "m/x"]) | st.text(max_size=6),
    st.one_of(
        st.sampled_from([0.0, 0.1, 0.5, 1.0]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-(10**30), 10**30),
        _JSON,
    ),
    max_size=4,
)


_QUESTIONS = st.sampled_from(["What is 2+2?", "Name a prime.", "Why is the sky blue?"])
_PLAUSIBLE_SCORES = st.dictionaries(
    st.sampled_from(["gpt-4", "m/x", "y"]), st.sampled_from([0.0, 0.3, 1.0]) | st.floats(0, 1)
)


@_fuzz(150)
@given(
    items=st.lists(
        st.fixed_dictionaries({"question": _QUESTIONS, "scores": _PLAUSIBLE_SCORES}), max_size=4
    )
    | st.lists(
        st.one_of(
            st.fixed_dictionaries(
                {"question": _QUESTIONS | st.text(max_size=12), "scores": _SCORES}
            ),
            st.dictionaries(st.sampled_from(["question", "scores", "extra"]), _JSON),
            _JSON,
        ),
        max_size=5,
    )
)
def test_fuzzed_multisample_files_import_or_raise(items: list[Any], no_hang: Any) -> None:
    _import_case("multisample", {"data.json": _json_bytes(items)}, "data.json", no_hang)


_ANNOTATION_KEYS = ["instruction", "generator_1", "generator_2", "output_1", "output_2"]


_PLAUSIBLE_ANNOTATION = st.fixed_dictionaries(
    {
        "instruction": _QUESTIONS,
        "generator_1": st.just("gpt4_1106_preview"),
        "generator_2": st.sampled_from(["alpaca-7b", "phi-2"]),
        "output_1": st.text(max_size=20),
        "output_2": st.text(max_size=20),
        "preference": st.floats(1, 2),
    }
)


@_fuzz(150)
@given(
    items=st.lists(_PLAUSIBLE_ANNOTATION, max_size=4)
    | st.lists(
        st.one_of(
            st.fixed_dictionaries(
                {
                    key: st.sampled_from(["a", "b", "Why?"]) | st.text(max_size=8)
                    for key in _ANNOTATION_KEYS
                },
                optional={"preference": st.one_of(st.floats(1, 2), _JSON), "dataset": _JSON},
            ),
            st.dictionaries(st.sampled_from([*_ANNOTATION_KEYS, "preference"]), _JSON),
            _JSON,
        ),
        max_size=5,
    ),
    compress=st.booleans(),
)
def test_fuzzed_alpaca_eval_files_import_or_raise(
    items: list[Any], compress: bool, no_hang: Any
) -> None:
    name = "model.json.gz" if compress else "model.json"
    content = _json_bytes(items)
    _import_case(
        "alpaca_eval", {name: gzip.compress(content) if compress else content}, name, no_hang
    )


_CELLS = st.one_of(
    st.sampled_from(["True", "False", "1", "0", "1.0", "0.5", "nan", "inf", "", " ", "['a', 'b']"]),
    st.sampled_from(["What is 2+2?", "['Name a prime.']", "0.002", "s1", "gsm8k"]),
    st.sampled_from(["[]", "{[1]: 2}", "(" * 50, "'\\ud800'", "['\\udc00']", "1e999", "9" * 5000]),
    st.text(max_size=10),
)


def _csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8", "surrogatepass")


@st.composite
def _tables(draw: st.DrawFn, kind: str) -> tuple[list[str], list[list[str]]]:
    """A header and rows of a RouteLLM or RouterBench CSV: mostly well formed, sometimes not."""
    models = draw(
        st.lists(
            st.sampled_from(["gpt-4", "m/x", "y"]) | st.text(max_size=5),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    if kind == "routellm":
        header = ["prompt", *models, f"{models[0]}_response"]
    else:
        header = ["", "sample_id", "prompt", "eval_name", *models]
        header += [f"{m}|model_response" for m in models] + [f"{m}|total_cost" for m in models]
    width = len(header)
    truth = st.sampled_from(["True", "False", "1", "0.5", ""])
    if kind == "routellm":
        plausible = st.tuples(_QUESTIONS, *[truth] * len(models), st.text(max_size=8))
    else:
        plausible = st.tuples(
            st.just("0"),
            st.sampled_from(["s1", "s2", ""]),
            _QUESTIONS.map(lambda q: repr([q])),
            st.just("gsm8k"),
            *[truth] * len(models),
            *[st.text(max_size=8).map(lambda t: repr([t]))] * len(models),
            *[st.sampled_from(["0.001", "", "x"])] * len(models),
        )
    hostile = st.lists(_CELLS, min_size=width, max_size=width) | st.lists(
        _CELLS, max_size=width + 1
    )
    rows = st.lists(plausible.map(list), max_size=5) | st.lists(
        plausible.map(list) | hostile, max_size=5
    )
    return header, draw(rows)


@_fuzz(150)
@given(table=_tables("routellm"))
def test_fuzzed_routellm_csvs_import_or_raise(
    table: tuple[list[str], list[list[str]]], no_hang: Any
) -> None:
    _import_case("routellm", {"results.csv": _csv_bytes(*table)}, "results.csv", no_hang)


@_fuzz(150)
@given(table=_tables("routerbench"), compress=st.booleans())
def test_fuzzed_routerbench_csvs_import_or_raise(
    table: tuple[list[str], list[list[str]]], compress: bool, no_hang: Any
) -> None:
    content = _csv_bytes(*table)
    name = "rows.csv.gz" if compress else "rows.csv"
    _import_case(
        "routerbench", {name: gzip.compress(content) if compress else content}, name, no_hang
    )


_QUESTION = st.fixed_dictionaries(
    {
        "question_id": st.integers(0, 3),
        "turns": st.lists(st.sampled_from(["Hi", "Why?"]) | st.text(max_size=8), max_size=2),
    },
    optional={"category": _JSON},
)
_PROMPT = "[The Start of Assistant's Answer]\nan answer\n[The End of Assistant's Answer]"
_JUDGEMENT = st.fixed_dictionaries(
    {
        "question_id": st.integers(0, 3) | _JSON,
        "turn": st.integers(0, 3) | _JSON,
        "model": st.sampled_from(["gpt-4", "m"]) | st.text(max_size=6) | _JSON,
        "score": st.floats(1, 10) | st.floats(allow_nan=True, allow_infinity=True) | _JSON,
    },
    optional={"user_prompt": st.just(_PROMPT) | st.text(max_size=20)},
)


_PLAUSIBLE_QUESTIONS = st.just(
    [{"question_id": i, "turns": ["Hi", "Why?"], "category": "x"} for i in range(4)]
)
_PLAUSIBLE_JUDGEMENT = st.fixed_dictionaries(
    {
        "question_id": st.integers(0, 3),
        "turn": st.integers(1, 2),
        "model": st.sampled_from(["gpt-4", "m"]),
        "score": st.floats(1, 10),
        "user_prompt": st.just(_PROMPT),
    }
)


@_fuzz(150)
@given(
    questions=_PLAUSIBLE_QUESTIONS | st.lists(_QUESTION | _JSON, max_size=4),
    judgements=st.lists(_PLAUSIBLE_JUDGEMENT, max_size=4)
    | st.lists(_JUDGEMENT | _PLAUSIBLE_JUDGEMENT | _JSON, max_size=4),
)
def test_fuzzed_mt_bench_folders_import_or_raise(
    questions: list[Any], judgements: list[Any], no_hang: Any
) -> None:
    files = {
        "question.jsonl": b"\n".join(_json_bytes(q) for q in questions),
        "judgements.jsonl": b"\n".join(_json_bytes(j) for j in judgements),
    }
    _import_case("routellm", files, "judgements.jsonl", no_hang)


@pytest.mark.slow
@_fuzz(400)
@given(target=st.sampled_from(_BYTE_TARGETS), content=st.binary(max_size=3000))
def test_many_fuzzed_bytes_import_or_raise(
    target: tuple[str, str], content: bytes, no_hang: Any
) -> None:
    fmt, name = target
    _import_case(fmt, {name: content}, name, no_hang)


#: (format, files, the file to import, what the message must say)
IMPORT_FAULTS: list[tuple[str, dict[str, bytes], str, str]] = [
    ("multisample", {"d.json": b"\xff"}, "d.json", "not UTF-8"),
    ("multisample", {"d.json": b"[" * 100_000}, "d.json", "nested too deeply"),
    (
        "multisample",
        {"d.json": _json_bytes([{"question": " ", "scores": {}}])},
        "d.json",
        "question",
    ),
    (
        "multisample",
        {"d.json": b'[{"question": "q", "scores": {"m": ' + b"9" * 400 + b"}}]"},
        "d.json",
        "not a number",
    ),
    (
        "alpaca_eval",
        {"m.json": _json_bytes([{"instruction": [1], "generator_1": "a", "generator_2": "b"}])},
        "m.json",
        "'instruction' must be a non-empty string",
    ),
    ("alpaca_eval", {"m.json.gz": b"\x1f\x8b\x08\x00garbage"}, "m.json.gz", "damaged"),
    ("alpaca_eval", {"m.json.gz": gzip.compress(b"[]")[:-6]}, "m.json.gz", "damaged"),
    ("routellm", {"r.csv": b"prompt,m\nq,True,extra\n"}, "r.csv", "more fields than the header"),
    ("routellm", {"r.csv": b"prompt,m\n\xff,True\n"}, "r.csv", "not UTF-8"),
    ("routellm", {"r.csv": b"prompt,,m\nq,1,True\n"}, "r.csv", "column without a name"),
    (
        "routellm",
        {"question.jsonl": b'{"question_id": 1, "turns": ["hi"]}', "judgements.jsonl": b"{no"},
        "judgements.jsonl",
        "line 1: not valid JSON",
    ),
    (
        "routellm",
        {
            "question.jsonl": b'{"question_id": 1, "turns": ["hi"]}',
            "judgements.jsonl": b'{"question_id": 1, "turn": 2, "model": "m", "score": 5}',
        },
        "judgements.jsonl",
        "turn 2 is not a turn",
    ),
    (
        "routellm",
        {
            "question.jsonl": b'{"question_id": 1, "turns": ["hi"]}',
            "judgements.jsonl": b'{"question_id": 1, "turn": 1, "model": "m", "score": NaN}',
        },
        "judgements.jsonl",
        "finite 'score'",
    ),
    (
        "routellm",
        {"question.jsonl": b"[1]", "judgements.jsonl": b'{"question_id": 1}'},
        "judgements.jsonl",
        "expected a JSON object",
    ),
    (
        "routerbench",
        {"r.csv": b"prompt,m,m|model_response\n\"['\\ud800']\",1,a\n"},
        "r.csv",
        "lone surrogate",
    ),
    ("routerbench", {"r.csv.gz": gzip.compress(b"prompt\n")[:-4]}, "r.csv.gz", "damaged"),
]


@pytest.mark.parametrize(
    ("fmt", "files", "target", "reason"),
    IMPORT_FAULTS,
    ids=[f"{fmt}-{reason}" for fmt, _, _, reason in IMPORT_FAULTS],
)
def test_a_bad_import_file_fails_naming_path_and_reason(
    tmp_path: Path, fmt: str, files: dict[str, bytes], target: str, reason: str
) -> None:
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    with pytest.raises(DataFormatError, match=reason) as raised:
        load_source(f"{fmt}:{tmp_path / target}")
    assert str(tmp_path) in str(raised.value)
