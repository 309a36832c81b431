"""OpenAI embeddings <-> Gemini embedContent / batchEmbedContents."""

from __future__ import annotations

import pytest

from tests.translators import gemini_golden as golden
from translators.embeddings import decode_vector
from translators.errors import TranslationError
from translators.gemini.embeddings import build_embed_request, parse_embed_response, split_batch

CASES = golden.cases("openai_request.json", kind="embedding")


@pytest.mark.parametrize("case", CASES)
def test_build_embed_request_matches_golden(case: str) -> None:
    method, body = build_embed_request(golden.load(case, "openai_request.json"), model=golden.model(case))
    golden.check(case, "vendor_request.json", {"method": method, "body": body})


@pytest.mark.parametrize("case", CASES)
def test_parse_embed_response_matches_golden(case: str) -> None:
    request = golden.load(case, "openai_request.json")
    inputs = request["input"]
    answer = parse_embed_response(
        [golden.load(case, "vendor_response.json")],
        model=golden.model(case),
        encoding_format=request.get("encoding_format"),
        expected=1 if isinstance(inputs, str) else len(inputs),
    )
    golden.check(case, "openai_response.json", answer)


def test_parse_embed_response_base64_decodes_to_the_floats() -> None:
    answer = parse_embed_response(
        [{"embeddings": [{"values": [0.5, -0.25]}]}], model="m", encoding_format="base64", expected=1
    )
    assert decode_vector(answer["data"][0]["embedding"]) == [0.5, -0.25]


def test_split_batch_keeps_order_in_chunks_of_100() -> None:
    _, body = build_embed_request({"input": [f"t{i}" for i in range(250)]}, model="gemini-embedding-001")
    parts = split_batch(body)
    assert [len(p["requests"]) for p in parts] == [100, 100, 50]
    texts = [r["content"]["parts"][0]["text"] for p in parts for r in p["requests"]]
    assert texts == [f"t{i}" for i in range(250)]


def test_parse_embed_response_joins_batches_in_order() -> None:
    answers = [{"embeddings": [{"values": [float(i)]} for i in range(start, start + 2)]} for start in (0, 2)]
    answer = parse_embed_response(answers, model="m", encoding_format="float", expected=4)
    assert [d["embedding"] for d in answer["data"]] == [[0.0], [1.0], [2.0], [3.0]]
    assert [d["index"] for d in answer["data"]] == [0, 1, 2, 3]


def test_parse_embed_response_count_mismatch_is_a_bad_answer() -> None:
    with pytest.raises(ValueError, match="2 inputs"):
        parse_embed_response([{"embeddings": [{"values": [1.0]}]}], model="m", encoding_format=None, expected=2)


@pytest.mark.parametrize("inputs", [[1, 2, 3], [[1, 2], [3]]])
def test_build_embed_request_token_arrays_are_refused(inputs: object) -> None:
    with pytest.raises(TranslationError) as info:
        build_embed_request({"input": inputs}, model="gemini-embedding-001")
    assert info.value.param == "input"


def test_build_embed_request_task_type_extension() -> None:
    _, body = build_embed_request({"input": "q", "task_type": "retrieval_query"}, model="gemini-embedding-001")
    assert body["taskType"] == "RETRIEVAL_QUERY"
