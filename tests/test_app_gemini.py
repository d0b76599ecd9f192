"""The Gemini API routes through the app, with the upstream mocked by respx."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from tests.conftest import LOCAL_KEY, chunked, ndjson

from ccgw.jsonutil import loads

GOOGLE = {"x-goog-api-key": LOCAL_KEY}
ASK = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


@pytest.fixture
def gemini(app_factory: Any) -> TestClient:
    client: TestClient = app_factory()
    client.headers.pop("Authorization")  # Google's clients authenticate their own way
    return client


def sent(upstream: respx.MockRouter, call: int = -1) -> dict[str, Any]:
    envelope: dict[str, Any] = loads(upstream.routes["generate"].calls[call].request.content)
    return envelope["params"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1beta/models/deepseek/deepseek-v4-pro:generateContent",
        "/v1beta/models/deepseek%2Fdeepseek-v4-pro:generateContent",
        "/v1/models/deepseek-v4-pro:generateContent",
        "/v1beta/models/models/deepseek-v4-pro:generateContent",
    ],
)
def test_generate_content_model_in_the_path_every_spelling(
    gemini: TestClient, upstream: respx.MockRouter, path: str
) -> None:
    response = gemini.post(path, json=ASK, headers=GOOGLE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["candidates"] == [
        {"content": {"parts": [{"text": "Hello, world."}], "role": "model"}, "finishReason": "STOP", "index": 0}
    ]
    assert body["modelVersion"] == "deepseek/deepseek-v4-pro"
    assert body["usageMetadata"] == {
        "promptTokenCount": 100,
        "candidatesTokenCount": 5,
        "totalTokenCount": 107,
        "cachedContentTokenCount": 40,
        "thoughtsTokenCount": 2,
    }
    assert sent(upstream)["model"] == "deepseek/deepseek-v4-pro"


def test_generate_content_recorded_in_the_ledger(gemini: TestClient) -> None:
    response = gemini.post("/v1beta/models/deepseek-v4-pro:generateContent", json=ASK, headers=GOOGLE)
    rid = response.headers["x-request-id"]
    entry = gemini.get(f"/v1/usage/{rid}", headers=GOOGLE | {"Authorization": f"Bearer {LOCAL_KEY}"}).json()
    assert (entry["endpoint"], entry["model"], entry["status"], entry["output_tokens"]) == (
        "gemini.generateContent",
        "deepseek/deepseek-v4-pro",
        "ok",
        7,
    )


def test_key_in_the_query_string_works_on_google_routes_only(gemini: TestClient) -> None:
    ok = gemini.post(f"/v1beta/models/deepseek-v4-pro:generateContent?key={LOCAL_KEY}", json=ASK)
    assert ok.status_code == 200
    chat = {"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": "hi"}]}
    assert gemini.post(f"/v1/chat/completions?key={LOCAL_KEY}", json=chat).status_code == 401
    assert gemini.post("/v1/chat/completions", json=chat, headers=GOOGLE).status_code == 401


def test_missing_or_wrong_key_is_a_google_401(gemini: TestClient) -> None:
    for headers in ({}, {"x-goog-api-key": "wrong-key-123"}):
        response = gemini.post("/v1beta/models/deepseek-v4-pro:generateContent", json=ASK, headers=headers)
        assert response.status_code == 401
        error = response.json()["error"]
        assert (error["code"], error["status"]) == (401, "UNAUTHENTICATED")
        assert "x-goog-api-key" in error["message"] or "Invalid" in error["message"]


@pytest.mark.parametrize(
    ("path", "body", "status", "google_status"),
    [
        ("/v1beta/models/no-such-model:generateContent", ASK, 404, "NOT_FOUND"),
        ("/v1beta/models/claude-sonnet-4-6:generateContent", ASK, 404, "NOT_FOUND"),  # excluded
        ("/v1beta/models/deepseek-v4-pro:generateContent", {"contents": "hi"}, 400, "INVALID_ARGUMENT"),
        ("/v1beta/models/deepseek-v4-pro:generateContent", {"contents": []}, 400, "INVALID_ARGUMENT"),
        ("/v1beta/models/deepseek-v4-pro:generateContent", {"contents": [{"parts": [{"x": 1}]}]}, 400, "INVALID_ARGUMENT"),
        ("/v1beta/models/deepseek-v4-pro:launchRocket", ASK, 404, "NOT_FOUND"),
        ("/v1beta/models/deepseek-v4-pro:embedContent", {"content": {"parts": [{"text": "x"}]}}, 400, "INVALID_ARGUMENT"),
        ("/v1beta/tunedModels", ASK, 404, "NOT_FOUND"),
    ],
)  # fmt: skip
def test_client_errors_in_google_shape(
    gemini: TestClient, path: str, body: Any, status: int, google_status: str
) -> None:
    response = gemini.post(path, json=body, headers=GOOGLE)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "status", "details"}
    assert (error["code"], error["status"]) == (status, google_status)


def test_sampling_as_the_python_sdk_sends_it_is_accepted_and_only_temperature_goes_upstream(
    gemini: TestClient, upstream: respx.MockRouter
) -> None:
    config = {"temperature": 0.3, "topP": 0.9, "topK": 40.0}  # google-genai types topK as a float
    body = {**ASK, "generationConfig": config}
    response = gemini.post("/v1beta/models/deepseek-v4-pro:generateContent", json=body, headers=GOOGLE)
    assert response.status_code == 200, response.text
    params = sent(upstream)
    assert params["temperature"] == 0.3 and not {"top_p", "top_k"} & set(params)
    bad = gemini.post(
        "/v1beta/models/deepseek-v4-pro:generateContent",
        json={**ASK, "generationConfig": {"topK": 0}},
        headers=GOOGLE,
    )
    assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_invalid_json_body_is_a_google_400(gemini: TestClient) -> None:
    response = gemini.post("/v1beta/models/deepseek-v4-pro:generateContent", content=b"{nope", headers=GOOGLE)
    assert response.status_code == 400 and response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_upstream_429_is_google_resource_exhausted_with_retry_info(
    gemini: TestClient, upstream: respx.MockRouter
) -> None:
    upstream.routes["generate"].mock(
        return_value=httpx.Response(
            429,
            json={"error": {"message": "usage limit for your plan", "rateLimit": {"window": "fiveHour"}}},
            headers={"retry-after": "3600"},
        )
    )
    response = gemini.post("/v1beta/models/deepseek-v4-pro:generateContent", json=ASK, headers=GOOGLE)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3600"
    error = response.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3600s"} in error["details"]


def test_stream_sse_chunks_then_finish_with_usage(gemini: TestClient) -> None:
    response = gemini.post("/v1beta/models/deepseek-v4-pro:streamGenerateContent?alt=sse", json=ASK, headers=GOOGLE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    assert "".join(p["text"] for f in frames for p in f["candidates"][0]["content"]["parts"]) == "Hello, world."
    assert frames[-1]["candidates"][0]["finishReason"] == "STOP"
    assert frames[-1]["usageMetadata"]["totalTokenCount"] == 107


def test_stream_without_alt_is_one_json_array(gemini: TestClient, upstream: respx.MockRouter) -> None:
    response = gemini.post(f"/v1/models/deepseek-v4-pro:streamGenerateContent?key={LOCAL_KEY}", json=ASK)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    chunks = json.loads(response.text)
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert sent(upstream)["stream"] is True


FAILING = (
    ndjson({"type": "text-delta", "text": "partial"}),
    ndjson({"type": "error", "error": {"message": "providers are at capacity", "statusCode": 503}}),
)


def test_stream_failure_after_first_byte_ends_with_a_bare_error(gemini: TestClient, upstream: respx.MockRouter) -> None:
    upstream.routes["generate"].mock(side_effect=chunked(*FAILING))
    response = gemini.post("/v1beta/models/deepseek-v4-pro:streamGenerateContent?alt=sse", json=ASK, headers=GOOGLE)
    assert response.status_code == 200
    blocks = [b for b in response.text.split("\n\n") if b.strip()]
    assert blocks[0].startswith("data: ") and "partial" in blocks[0]
    error = json.loads(blocks[-1])["error"]
    assert (error["code"], error["status"]) == (502, "UNAVAILABLE")
    assert "finishReason" not in response.text


def test_json_array_stream_failure_closes_the_array_with_the_error(
    gemini: TestClient, upstream: respx.MockRouter
) -> None:
    upstream.routes["generate"].mock(side_effect=chunked(*FAILING))
    response = gemini.post("/v1beta/models/deepseek-v4-pro:streamGenerateContent", json=ASK, headers=GOOGLE)
    chunks = json.loads(response.text)
    assert chunks[0]["candidates"][0]["content"]["parts"] == [{"text": "partial"}]
    assert chunks[-1]["error"]["code"] == 502
    assert not any("finishReason" in c.get("candidates", [{}])[0] for c in chunks)


def test_candidate_count_fans_out_and_sums_usage(gemini: TestClient, upstream: respx.MockRouter) -> None:
    body = {**ASK, "generationConfig": {"candidateCount": 2}}
    response = gemini.post("/v1beta/models/deepseek-v4-pro:generateContent", json=body, headers=GOOGLE)
    result = response.json()
    assert [c["index"] for c in result["candidates"]] == [0, 1]
    assert result["usageMetadata"]["promptTokenCount"] == 200
    assert upstream.routes["generate"].call_count == 2


def test_remote_file_data_image_fetched_and_inlined(app_factory: Any, upstream: respx.MockRouter) -> None:
    images = respx.MockRouter(assert_all_called=False)
    images.get("https://93.184.216.34/cat.png").mock(
        return_value=httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
    )

    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    client = app_factory(image_transport=httpx.MockTransport(images.handler), image_resolver=resolve)
    part = {"fileData": {"mimeType": "image/png", "fileUri": "https://img.test/cat.png"}}
    body = {"contents": [{"role": "user", "parts": [part, {"text": "what?"}]}]}
    response = client.post("/v1beta/models/Kimi-K3:generateContent", json=body, headers=GOOGLE)
    assert response.status_code == 200, response.text
    assert "x-ccgw-warning" not in response.headers
    image = sent(upstream)["messages"][0]["content"][0]
    assert image == {
        "type": "image",
        "image": "data:image/png;base64," + base64.b64encode(PNG).decode(),
        "mimeType": "image/png",
    }


def test_image_to_text_only_model_is_a_note_and_a_warning_header(
    gemini: TestClient, upstream: respx.MockRouter
) -> None:
    image = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}
    body = {"contents": [{"role": "user", "parts": [image, {"text": "what?"}]}]}
    response = gemini.post("/v1beta/models/deepseek-v4-pro:generateContent", json=body, headers=GOOGLE)
    assert response.status_code == 200, response.text
    assert response.headers["x-ccgw-warning"] == "image omitted, deepseek/deepseek-v4-pro takes text only"
    parts = sent(upstream)["messages"][0]["content"]
    assert parts == [
        {"type": "text", "text": "[image omitted: deepseek/deepseek-v4-pro takes text only]"},
        {"type": "text", "text": "what?"},
    ]


def test_count_tokens_any_model_and_generate_content_request_form(
    gemini: TestClient, upstream: respx.MockRouter
) -> None:
    plain = gemini.post("/v1beta/models/gemini-3-pro-preview:countTokens", json=ASK, headers=GOOGLE)
    wrapped = gemini.post(
        "/v1/models/gemini-3-pro-preview:countTokens",
        json={"generateContentRequest": {"model": "models/gemini-3-pro-preview", **ASK}},
        headers=GOOGLE,
    )
    assert plain.status_code == wrapped.status_code == 200
    assert plain.json() == wrapped.json() and plain.json()["totalTokens"] > 0
    assert upstream.routes["generate"].call_count == 0


def test_models_listed_in_google_shape_for_google_keys_only(gemini: TestClient) -> None:
    google = gemini.get("/v1/models", headers=GOOGLE).json()
    beta = gemini.get(f"/v1beta/models?key={LOCAL_KEY}").json()
    assert google == beta
    names = [m["name"] for m in google["models"]]
    assert "models/deepseek/deepseek-v4-pro" in names and not any("claude" in n for n in names)
    first = google["models"][0]
    assert first["inputTokenLimit"] > 0 and "generateContent" in first["supportedGenerationMethods"]
    openai = gemini.get("/v1/models", headers={"Authorization": f"Bearer {LOCAL_KEY}"}).json()
    assert openai["object"] == "list"
    one = gemini.get("/v1/models/deepseek/deepseek-v4-pro", headers=GOOGLE).json()
    assert one["name"] == "models/deepseek/deepseek-v4-pro" and one["displayName"] == "DeepSeek V4 Pro"
    assert gemini.get("/v1beta/models/models/deepseek-v4-pro", headers=GOOGLE).json() == one
    missing = gemini.get("/v1/models/nope", headers=GOOGLE)
    assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"


def test_gemini_model_ids_reach_a_model_through_pattern_aliases(app_factory: Any, upstream: respx.MockRouter) -> None:
    from tests.conftest import make_settings

    settings = make_settings(
        exclude_models=["claude-", "gemini-"],
        model_aliases={
            "gemini-*": "deepseek/deepseek-v4-flash",
            "gemini-*pro*": "deepseek/deepseek-v4-pro",  # more specific, so it wins whatever the order
            "gemini-3.5-flash": "moonshotai/Kimi-K3",  # exact names before patterns
        },
    )
    client = app_factory(settings)
    for model, target in [
        ("gemini-3.1-pro-preview", "deepseek/deepseek-v4-pro"),
        ("gemini-3.5-flash", "moonshotai/Kimi-K3"),
        ("gemini-3.5-flash-lite", "deepseek/deepseek-v4-flash"),
        ("GEMINI-3-flash-preview", "deepseek/deepseek-v4-flash"),
    ]:
        response = client.post(f"/v1beta/models/{model}:generateContent", json=ASK, headers=GOOGLE)
        assert response.status_code == 200, response.text
        assert response.json()["modelVersion"] == target
        assert sent(upstream)["model"] == target
