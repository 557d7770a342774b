"""The fake Amigo API is faithful enough for the official SDK's own clients, validates requests
against the documented schemas, and behaves as documented (paging, versioning, overwriting,
rate limits, scripted faults)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

pytest.importorskip("amigo_sdk")

from amigo_sdk import AmigoClient, AsyncAmigoClient
from amigo_sdk.errors import BadRequestError, ConflictError, NotFoundError, ValidationError
from amigo_sdk.generated.model import (
    ConversationCreateConversationRequest,
    CreateConversationParametersQuery,
    CreateMetricVersionParametersQuery,
    GetConversationMessagesParametersQuery,
    GetConversationsParametersQuery,
    GetMetricEvaluationResultsParametersQuery,
    GetMetricsParametersQuery,
    GetMetricVersionsParametersQuery,
    InteractWithConversationParametersQuery,
    MetricCreateMetricRequest,
    MetricCreateMetricVersionRequest,
    MetricEvaluateMetricsRequest,
    MetricUpdateMetricRequest,
    SearchMetricsParametersQuery,
)

from pytest_amigo_metrics.amigo.client import AmigoAPI
from pytest_amigo_metrics.amigo.errors import AmigoAPIError
from pytest_amigo_metrics.amigo.metric_resource import with_tags
from pytest_amigo_metrics.models.llm import RetryPolicy
from pytest_amigo_metrics.testing import FakeAmigoAPI

TEXT = CreateConversationParametersQuery(response_format="text")  # type: ignore[arg-type]
INTERACT = InteractWithConversationParametersQuery(request_format="text", response_format="text")  # type: ignore[arg-type]


def sdk_client(fake: FakeAmigoAPI) -> AsyncAmigoClient:
    return AsyncAmigoClient(**fake.sdk_kwargs())


def api(fake: FakeAmigoAPI, attempts: int = 2) -> AmigoAPI:
    return AmigoAPI(
        fake.credentials(),
        retry=RetryPolicy(attempts=attempts, base_delay=0.01),
        transport=fake.transport,
        rate_window=0.2,
    )


def metric_body(name: str, value: dict[str, Any], **extra: Any) -> MetricCreateMetricRequest:
    data = {
        "name": name,
        "applied_to_services": [],
        "additional_notes": None,
        "tags": {},
        "initial_version_metric_value": {"description": f"{name}?", "metric_value": value},
    }
    return with_tags(MetricCreateMetricRequest, {**data, **extra})


def test_sdk_conversation_resource_works_unchanged(amigo_api: FakeAmigoAPI) -> None:
    service = amigo_api.add_service()

    async def converse() -> None:
        async with sdk_client(amigo_api) as client:
            conversations = client.conversations
            body = ConversationCreateConversationRequest(service_id=service.id)
            events = [e.root async for e in await conversations.create_conversation(body, TEXT)]
            assert events[0].type == "conversation-created"
            assert events[-1].type == "interaction-complete"
            conversation_id = events[0].conversation_id
            streamed = await conversations.interact_with_conversation(
                conversation_id, INTERACT, text_message="My VM is down."
            )
            pieces = [e.root async for e in streamed]
            joined = "".join(e.message for e in pieces if e.type == "new-message")
            assert joined == pieces[-1].full_message
            await conversations.finish_conversation(conversation_id)
            page = await conversations.get_conversation_messages(
                conversation_id, GetConversationMessagesParametersQuery(sort_by=["+created_at"])
            )
            kinds = [m.message_type.value for m in page.messages]
            assert kinds == ["agent-message", "user-message", "agent-message"]
            with pytest.raises(ConflictError):
                await conversations.finish_conversation(conversation_id)

    asyncio.run(converse())


def test_sync_sdk_client_signs_in_and_refreshes_an_expired_token(amigo_api: FakeAmigoAPI) -> None:
    service = amigo_api.add_service()
    with AmigoClient(**amigo_api.sdk_kwargs()) as client:
        body = ConversationCreateConversationRequest(service_id=service.id)
        events = list(client.conversations.create_conversation(body, TEXT))
        amigo_api.expire_tokens()  # the next call gets a 401; the SDK signs in again
        client.conversations.finish_conversation(events[0].root.conversation_id)
    signins = amigo_api.calls("sign-in-with-api-key")
    assert len(signins) == 2
    assert [r.status for r in amigo_api.calls("finish-conversation")] == [401, 204]


def test_one_unfinished_conversation_per_user(amigo_api: FakeAmigoAPI) -> None:
    service = amigo_api.add_service()

    async def twice() -> None:
        async with sdk_client(amigo_api) as client:
            body = ConversationCreateConversationRequest(service_id=service.id)
            [e async for e in await client.conversations.create_conversation(body, TEXT)]
            with pytest.raises(Exception, match="unfinished conversations"):
                [e async for e in await client.conversations.create_conversation(body, TEXT)]

    asyncio.run(twice())


def test_requests_are_validated_against_the_schemas(amigo_api: FakeAmigoAPI) -> None:
    client = api(amigo_api)

    async def bad_requests() -> None:
        with pytest.raises(AmigoAPIError, match="HTTP 422"):
            await client.call(
                "get-metric-versions",
                lambda: client.metrics.get_metric_versions(
                    "not-hex", GetMetricVersionsParametersQuery()
                ),
            )
        raw = client.http
        response = await raw._client.get(  # a limit above the documented maximum
            f"/v1/{amigo_api.organization_id}/metric/",
            params={"limit": 51},
            headers={"Authorization": f"Bearer {await raw._ensure_token()}"},
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "limit"]
        with pytest.raises(AmigoAPIError, match="HTTP 422"):
            await client.call(
                "evaluate-metrics",
                lambda: client.http.request(
                    "POST",
                    f"/v1/{amigo_api.organization_id}/metric/evaluate",
                    json={"metric_ids": [], "conversation_id": "0" * 24},
                ),
            )
        await client.aclose()

    asyncio.run(bad_requests())


def test_metric_lifecycle_paging_filters_and_versions(amigo_api: FakeAmigoAPI) -> None:
    client = api(amigo_api)

    async def lifecycle() -> None:
        m = client.metrics
        ids = []
        for i in range(55):
            tags = {"team": "support"} if i % 2 else {"team": "sales", "draft": None}
            created = await m.create_metric(
                metric_body(f"Metric {i}", {"type": "boolean"}, tags=tags)
            )
            ids.append(created.id)
        with pytest.raises(ConflictError):
            await m.create_metric(metric_body("Metric 0", {"type": "boolean"}))
        first = await m.get_metrics(GetMetricsParametersQuery())
        assert len(first.metrics) == 50 and first.has_more and first.filter_values is not None
        everything = [x async for x in m.iter_metrics(GetMetricsParametersQuery(limit=20))]
        assert [x.id for x in everything] == ids
        support = [x async for x in m.iter_metrics(GetMetricsParametersQuery(tag=["team:support"]))]
        assert len(support) == 27
        drafts = [x async for x in m.iter_metrics(GetMetricsParametersQuery(tag=["draft:"]))]
        assert len(drafts) == 28
        found = await m.search_metrics(SearchMetricsParametersQuery(query="Metric 54"))
        assert found.metrics[0].field_id == ids[54]

        target = ids[0]
        version = MetricCreateMetricVersionRequest.model_validate(
            {"description": "Sharper?", "metric_value": {"type": "boolean"}}
        )
        assert (await m.create_metric_version(target, version)).version == 2
        with pytest.raises(ConflictError):  # the expected next version is 3, not 2
            await m.create_metric_version(
                target, version, CreateMetricVersionParametersQuery(version=2)
            )
        assert (
            await m.create_metric_version(
                target, version, CreateMetricVersionParametersQuery(version=3)
            )
        ).version == 3
        changed_type = MetricCreateMetricVersionRequest.model_validate(
            {
                "description": "x",
                "metric_value": {"type": "numerical", "lower_bound": 0, "upper_bound": 1},
            }
        )
        with pytest.raises(Exception, match="cannot be changed"):
            await m.create_metric_version(target, changed_type)
        latest = await m.get_metric_versions(
            target, GetMetricVersionsParametersQuery(version="latest")
        )
        assert [v.version for v in latest.metric_versions] == [3]
        ranged = await m.get_metric_versions(
            target, GetMetricVersionsParametersQuery(version="2-latest")
        )
        assert [v.version for v in ranged.metric_versions] == [2, 3]

        await m.update_metric(target, with_tags(MetricUpdateMetricRequest, {"tags": {"k": "v"}}))
        stored = amigo_api.org.metrics[target]
        assert stored.tags == {"k": "v"} and stored.additional_notes is None
        await m.update_metric(target, MetricUpdateMetricRequest(additional_notes="Notes."))
        assert stored.tags == {"k": "v"} and stored.additional_notes == "Notes."  # only what is set

        amigo_api.org.metrics[ids[1]].used_in_simulation = True
        with pytest.raises(Exception, match="simulation unit test"):
            await m.delete_metric(ids[1])
        await m.delete_metric(target)
        with pytest.raises(NotFoundError):
            await m.update_metric(target, MetricUpdateMetricRequest(additional_notes="x"))
        deleted = await m.get_metrics(GetMetricsParametersQuery(is_deleted=True))
        assert [x.id for x in deleted.metrics] == [target]
        await client.aclose()

    asyncio.run(lifecycle())


def test_evaluations_overwrite_and_results_page(amigo_api: FakeAmigoAPI) -> None:
    service = amigo_api.add_service()
    client = api(amigo_api)

    async def evaluate() -> None:
        metric = await client.metrics.create_metric(
            metric_body("Resolved", {"type": "categorical", "categories": ["yes", "no"]})
        )
        body = ConversationCreateConversationRequest(service_id=service.id)
        events = [e.root async for e in await client.conversations.create_conversation(body, TEXT)]
        conversation_id = events[0].conversation_id
        request = MetricEvaluateMetricsRequest.model_validate(
            {"metric_ids": [metric.id], "conversation_id": conversation_id}
        )
        first = await client.metrics.evaluate_metrics(request)
        assert first.metrics[0].value == "yes"
        before = datetime.now(timezone.utc)
        await client.metrics.evaluate_metrics(request)  # the same conversation: overwritten
        query = GetMetricEvaluationResultsParametersQuery.model_validate(
            {"conversation_id": [conversation_id], "metric_id_and_version": [f"{metric.id}-1"]}
        )
        results = [r async for r in client.metrics.iter_metric_evaluation_results(query)]
        assert len(results) == 1
        assert results[0].updated_at >= before
        assert results[0].source.root.type == "manual"
        with pytest.raises(NotFoundError):
            await client.metrics.evaluate_metrics(
                MetricEvaluateMetricsRequest.model_validate(
                    {"metric_ids": [metric.id], "conversation_id": "0" * 24}
                )
            )
        with pytest.raises(ValidationError):
            await client.metrics.get_metric_evaluation_results(
                GetMetricEvaluationResultsParametersQuery(metric_id_and_version=["nonsense"])
            )
        await client.aclose()

    asyncio.run(evaluate())


def test_results_helper_follows_continuation_tokens(amigo_api: FakeAmigoAPI) -> None:
    from pytest_amigo_metrics.testing.state import FakeResult

    client = api(amigo_api)
    metric_id = "a" * 24
    for index in range(7):
        amigo_api.org.results.append(
            FakeResult(
                f"{index:024x}",
                metric_id,
                1,
                True,
                "ok",
                {"type": "post-session", "conversation_id": "b" * 24, "references": []},
            )
        )

    async def read() -> list[str]:
        query = GetMetricEvaluationResultsParametersQuery(limit=3)
        found = [r.id async for r in client.metrics.iter_metric_evaluation_results(query)]
        await client.aclose()
        return found

    assert asyncio.run(read()) == [f"{i:024x}" for i in range(7)]
    tokens = [
        r.query.get("continuation_token") for r in amigo_api.calls("get-metric-evaluation-results")
    ]
    assert tokens == [None, ["3"], ["6"]]


def test_rate_limits_answer_429_with_retry_after(amigo_api: FakeAmigoAPI) -> None:
    amigo_api.rate_window = 60.0
    transport = amigo_api.transport
    with httpx.Client(transport=transport, base_url=amigo_api.base_url) as raw:
        token = raw.post(
            f"/v1/{amigo_api.organization_id}/user/signin_with_api_key",
            headers={
                "x-api-key": amigo_api.api_key,
                "x-api-key-id": amigo_api.api_key_id,
                "x-user-id": amigo_api.user_id,
            },
        ).json()["id_token"]
        statuses = []
        for _ in range(11):
            response = raw.get(
                f"/v1/{amigo_api.organization_id}/metric/metric_evaluation_result",
                headers={"Authorization": f"Bearer {token}"},
            )
            statuses.append(response.status_code)
    assert statuses == [200] * 10 + [429]  # 10 requests per minute for this endpoint
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_scripted_faults_play_in_order_then_the_endpoint_serves(amigo_api: FakeAmigoAPI) -> None:
    amigo_api.fail("get-metrics", 429, 503, retry_after=0)
    client = api(amigo_api, attempts=3)
    page = asyncio.run(client.metrics.get_metrics(GetMetricsParametersQuery()))
    assert page.metrics == []
    assert [r.status for r in amigo_api.calls("get-metrics")] == [429, 503, 200]
    with pytest.raises(ValueError, match="unknown endpoint"):
        amigo_api.fail("no-such-endpoint", 500)


def test_422_keeps_the_servers_detail(amigo_api: FakeAmigoAPI) -> None:
    client = api(amigo_api)
    body = metric_body("Outcome", {"type": "categorical", "categories": ["resolved"]})
    # Past the client's own check: 51 categories, one more than the schema allows.
    body.initial_version_metric_value.metric_value.root.categories = [f"c{i}" for i in range(51)]

    async def create() -> None:
        await client.call("create-metric", lambda: client.metrics.create_metric(body))

    with pytest.raises(AmigoAPIError) as caught:
        asyncio.run(create())
    assert caught.value.status == 422
    assert "HTTP 422: the request failed validation (body.initial_version_metric_value." in str(
        caught.value
    )
    assert "at most 50 items" in str(caught.value)


def test_metric_values_are_held_to_the_schema_only(amigo_api: FakeAmigoAPI) -> None:
    """The API's schema does not order bounds or forbid repeated categories (the plugin's own
    rules do, for suite files): the fake does not make up rules of its own."""
    client = api(amigo_api)
    equal = metric_body("Level", {"type": "numerical", "lower_bound": 5, "upper_bound": 5})
    asyncio.run(client.call("create-metric", lambda: client.metrics.create_metric(equal)))
    assert [m.name for m in amigo_api.org.metrics.values()] == ["Level"]


# -- the fake behaves as documented: conversations ---------------------------------------------


def test_streams_are_streamed_event_by_event_with_scripted_breaks(amigo_api: FakeAmigoAPI) -> None:
    replies: list[int] = []

    def reply(history: list[dict[str, str]]) -> str:
        replies.append(len(history))
        return "Hello there, how can I help you today with your account?"

    service = amigo_api.add_service(reply=reply)

    async def converse() -> None:
        async with sdk_client(amigo_api) as client:
            conversations = client.conversations
            body = ConversationCreateConversationRequest(service_id=service.id)
            stream = await conversations.create_conversation(body, TEXT)
            first = (await anext(stream)).root
            assert first.type == "conversation-created"
            assert replies == []  # the agent's turn is computed when the stream reaches it
            rest = [e.root async for e in stream]
            assert replies == [0] and rest[-1].type == "interaction-complete"

            amigo_api.cut_stream("interact-with-conversation", after=1)
            received = []
            with pytest.raises(httpx.RemoteProtocolError):
                async for event in await conversations.interact_with_conversation(
                    first.conversation_id, INTERACT, text_message="Hi."
                ):
                    received.append(event.root.type)
            assert received == ["new-message"]
            # Only the connection was lost: the server finished the turn.
            assert amigo_api.org.conversations[first.conversation_id].messages[-1].sender == "agent"

            amigo_api.stream_error("interact-with-conversation", 503, "Busy.", after=0)
            events = [
                e.root
                async for e in await conversations.interact_with_conversation(
                    first.conversation_id, INTERACT, text_message="Again."
                )
            ]
            assert [(e.type, e.http_error_code, e.error_description) for e in events] == [
                ("error", 503, "Busy.")
            ]

    asyncio.run(converse())
    with pytest.raises(ValueError, match="not streamed"):
        amigo_api.cut_stream("finish-conversation", after=1)


def raw_create(client: AmigoAPI, fake: FakeAmigoAPI, body: dict[str, Any]) -> httpx.Response:
    """create-conversation through the SDK's HTTP client with a body the generated model cannot
    build (its tag keys are unhashable RootModels)."""
    return asyncio.run(
        client.http.request(
            "POST",
            f"/v1/{fake.organization_id}/conversation/",
            params={"response_format": "text"},
            json=body,
        )
    )


def test_conversation_tags_follow_their_own_rule(amigo_api: FakeAmigoAPI) -> None:
    service = amigo_api.add_service()
    client = api(amigo_api)
    bad_tags: list[dict[str, Any]] = [
        {"team-name": "x"},  # keys: letters, digits, _ and spaces only
        {"team": "x" * 101},  # values: at most 100 characters
        {"team": "   "},
        {f"k{i}": None for i in range(21)},  # at most 20 tags
    ]
    for tags in bad_tags:
        with pytest.raises(ValidationError):
            raw_create(client, amigo_api, {"service_id": service.id, "tags": tags})
    tags = {"Team name_1": "Billing / EU: escalated (v2)!", "draft": None}  # any text as value
    created = raw_create(client, amigo_api, {"service_id": service.id, "tags": tags})
    conversation_id = json.loads(created.text.splitlines()[0])["conversation_id"]

    async def listed(tag: str) -> list[str]:
        page = await client.conversations.get_conversations(
            GetConversationsParametersQuery(tag=[tag])
        )
        return [c.id for c in page.conversations]

    assert asyncio.run(listed("Team name_1:*")) == [conversation_id]
    assert asyncio.run(listed("draft:")) == [conversation_id]
    assert asyncio.run(listed("draft:yes")) == []
    with pytest.raises(ValidationError):
        asyncio.run(listed("Team name_1"))  # key:value syntax required
    assert amigo_api.org.conversations[conversation_id].tags == tags


def test_a_voice_response_needs_response_audio_format(amigo_api: FakeAmigoAPI) -> None:
    service = amigo_api.add_service()
    voice = CreateConversationParametersQuery(response_format="voice")  # type: ignore[arg-type]

    async def converse() -> None:
        async with sdk_client(amigo_api) as client:
            body = ConversationCreateConversationRequest(service_id=service.id)
            with pytest.raises(BadRequestError, match="response_audio_format"):
                [e async for e in await client.conversations.create_conversation(body, voice)]
            events = [
                e.root async for e in await client.conversations.create_conversation(body, TEXT)
            ]
            spoken = InteractWithConversationParametersQuery(
                request_format="text",  # type: ignore[arg-type]
                response_format="voice",  # type: ignore[arg-type]
            )
            with pytest.raises(BadRequestError, match="response_audio_format"):
                [
                    e
                    async for e in await client.conversations.interact_with_conversation(
                        events[0].conversation_id, spoken, text_message="Hi."
                    )
                ]

    asyncio.run(converse())


def test_external_events_lie_in_the_past_and_come_before_the_users_message(
    amigo_api: FakeAmigoAPI,
) -> None:
    service = amigo_api.add_service()

    async def converse() -> list[str]:
        async with sdk_client(amigo_api) as client:
            conversations = client.conversations
            body = ConversationCreateConversationRequest(service_id=service.id)
            events = [e.root async for e in await conversations.create_conversation(body, TEXT)]
            conversation_id = events[0].conversation_id
            with pytest.raises(BadRequestError, match="not in the past"):
                [
                    e
                    async for e in await conversations.interact_with_conversation(
                        conversation_id,
                        INTERACT,
                        text_message="Hi.",
                        external_event_message_content=["Payment failed."],
                        external_event_message_timestamp=[
                            datetime.now(timezone.utc) + timedelta(hours=1)
                        ],
                    )
                ]
            happened = datetime.now(timezone.utc)
            [
                e
                async for e in await conversations.interact_with_conversation(
                    conversation_id,
                    INTERACT,
                    text_message="Why did my payment fail?",
                    external_event_message_content=["Payment failed."],
                    external_event_message_timestamp=[happened],
                )
            ]
            page = await conversations.get_conversation_messages(
                conversation_id, GetConversationMessagesParametersQuery(sort_by=["+created_at"])
            )
            assert page.messages[1].message == "Payment failed."
            assert page.messages[1].created_at == happened
            assert page.messages[1].interaction_id == page.messages[2].interaction_id
            return [m.message_type.value for m in page.messages]

    kinds = asyncio.run(converse())
    assert kinds == ["agent-message", "external-event", "user-message", "agent-message"]


def test_blank_text_is_refused_where_the_schema_wants_text(amigo_api: FakeAmigoAPI) -> None:
    service = amigo_api.add_service()
    client = api(amigo_api)

    async def blanks() -> None:
        with pytest.raises(ValidationError):
            await client.metrics.create_metric(metric_body("   ", {"type": "boolean"}))
        with pytest.raises(ValidationError):
            await client.metrics.search_metrics(SearchMetricsParametersQuery(query="  "))
        body = ConversationCreateConversationRequest(
            service_id=service.id,
            initial_message="   ",  # type: ignore[arg-type]
            initial_message_type="user-message",  # type: ignore[arg-type]
        )
        with pytest.raises(ValidationError):
            [e async for e in await client.conversations.create_conversation(body, TEXT)]
        await client.aclose()

    asyncio.run(blanks())
    assert amigo_api.org.metrics == {} and amigo_api.org.conversations == {}


def test_text_the_schema_strips_is_stored_stripped(amigo_api: FakeAmigoAPI) -> None:
    """A stripped non-empty string is taken as the API takes it: ' Outcome ' is the name
    'Outcome' (a second metric of that name is a 409), and so are categories, notes and a new
    version's description."""
    client = api(amigo_api)
    m = client.metrics
    categories = {"type": "categorical", "categories": [" resolved ", "escalated"]}

    async def padded() -> str:
        body = metric_body(" Outcome ", categories, additional_notes="  7+ is good. ")
        created = await m.create_metric(body)
        with pytest.raises(ConflictError):
            await m.create_metric(metric_body("Outcome", {"type": "boolean"}))
        version = MetricCreateMetricVersionRequest.model_validate(
            {"description": "  Classify it.  ", "metric_value": categories}
        )
        await m.create_metric_version(created.id, version)
        # Any object is the schema's `_NotSet`: the notes are left as they are.
        await client.http.request(
            "POST",
            f"/v1/{amigo_api.organization_id}/metric/{created.id}/",
            json={"additional_notes": {"unknown": 1}},
        )
        await client.aclose()
        return created.id

    metric = amigo_api.org.metrics[asyncio.run(padded())]
    assert (metric.name, metric.additional_notes) == ("Outcome", "7+ is good.")
    for version in metric.versions:
        assert version.metric_value["categories"] == ["resolved", "escalated"]
    assert metric.latest.description == "Classify it."
    assert len(amigo_api.org.metrics) == 1


def test_invalid_tags_are_located_under_tags(amigo_api: FakeAmigoAPI) -> None:
    client = api(amigo_api)
    base = f"/v1/{amigo_api.organization_id}/metric/"
    body = metric_body("Outcome", {"type": "boolean"}).model_dump(mode="json")

    async def locations(*tag_sets: dict[str, Any]) -> list[list[Any]]:
        found = []
        for tags in tag_sets:
            token = await client.http._ensure_token()
            response = await client.http._client.post(
                base, json={**body, "tags": tags}, headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 422
            found.append([e["loc"] for e in response.json()["detail"]])
        await client.aclose()
        return found

    assert asyncio.run(locations({"team-a": None}, {f"k{i}": None for i in range(21)})) == [
        [["body", "tags", "team-a", "[key]"]],
        [["body", "tags"]],
    ]


# -- the fake behaves as documented: metrics, paging, users, ids -------------------------------


def test_metric_filters_are_validated_even_with_nothing_to_find(amigo_api: FakeAmigoAPI) -> None:
    client = api(amigo_api)
    m = client.metrics

    async def filters() -> None:
        with pytest.raises(ValidationError):  # key:value syntax
            await m.get_metrics(GetMetricsParametersQuery(tag=["team"]))
        with pytest.raises(ValidationError):
            await m.search_metrics(SearchMetricsParametersQuery(query="x", tag=["team"]))
        with pytest.raises(ValidationError):  # org_id,user_id
            await m.get_metrics(GetMetricsParametersQuery(creator=[amigo_api.user_id]))
        with pytest.raises(ValidationError):  # no result exists, the filter is still checked
            await m.get_metric_evaluation_results(
                GetMetricEvaluationResultsParametersQuery(metric_id_and_version=["nonsense"])
            )
        await m.create_metric(metric_body("Mine", {"type": "boolean"}))
        mine = f"{amigo_api.organization_id},{amigo_api.user_id}"
        found = await m.get_metrics(GetMetricsParametersQuery(creator=[mine]))
        assert [x.name for x in found.metrics] == ["Mine"]
        await client.aclose()

    asyncio.run(filters())


def test_limit_zero_ends_paging_and_negative_tokens_are_refused(amigo_api: FakeAmigoAPI) -> None:
    client = api(amigo_api)
    m = client.metrics

    async def paging() -> None:
        await m.create_metric(metric_body("One", {"type": "boolean"}))
        empty = await m.get_metrics(GetMetricsParametersQuery(limit=0))
        assert (empty.metrics, empty.has_more, empty.continuation_token) == ([], False, None)
        listed = [x async for x in m.iter_metrics(GetMetricsParametersQuery(limit=0))]
        assert listed == []  # a pager stops: no token pointing at the same page
        results = await m.get_metric_evaluation_results(
            GetMetricEvaluationResultsParametersQuery(limit=0)
        )
        assert not results.has_more
        for query in (
            GetMetricsParametersQuery(continuation_token=-1),
            GetMetricEvaluationResultsParametersQuery(continuation_token=-50),
        ):
            with pytest.raises(ValidationError):
                if isinstance(query, GetMetricsParametersQuery):
                    await m.get_metrics(query)
                else:
                    await m.get_metric_evaluation_results(query)
        with pytest.raises(ValidationError):
            await client.conversations.get_conversations(
                GetConversationsParametersQuery(continuation_token=-1)
            )
        await client.aclose()

    asyncio.run(paging())


def test_each_user_has_its_own_conversations_and_identity(amigo_api: FakeAmigoAPI) -> None:
    service = amigo_api.add_service()
    other = amigo_api.add_user()

    async def as_user(user_id: str) -> str:
        async with AsyncAmigoClient(**amigo_api.sdk_kwargs(user_id)) as client:
            body = ConversationCreateConversationRequest(service_id=service.id)
            events = [
                e.root async for e in await client.conversations.create_conversation(body, TEXT)
            ]
            return str(events[0].conversation_id)

    # One unfinished conversation per user: both users may hold one at once.
    mine, theirs = asyncio.run(as_user(amigo_api.user_id)), asyncio.run(as_user(other.id))
    client = api(amigo_api)
    page = asyncio.run(
        client.conversations.get_conversations(
            GetConversationsParametersQuery(user_id=[other.id], is_finished=False)
        )
    )
    assert [(c.id, c.user_id) for c in page.conversations] == [(theirs, other.id)]
    assert amigo_api.org.conversations[mine].user_id == amigo_api.user_id

    theirs_api = AmigoAPI(
        amigo_api.credentials(other.id),
        retry=RetryPolicy(attempts=1, base_delay=0.01),
        transport=amigo_api.transport,
    )
    created = asyncio.run(
        theirs_api.metrics.create_metric(metric_body("Theirs", {"type": "boolean"}))
    )
    assert amigo_api.org.metrics[created.id].creator["user_id"] == other.id
    wrong = {**amigo_api.sdk_kwargs(other.id), "api_key": amigo_api.api_key}  # not its key

    async def sign_in_wrong() -> None:
        async with AsyncAmigoClient(**wrong) as client:
            await client.conversations.get_conversations(GetConversationsParametersQuery())

    with pytest.raises(Exception, match="API-key exchange failed"):
        asyncio.run(sign_in_wrong())


def test_ids_sort_by_creation_time(amigo_api: FakeAmigoAPI) -> None:
    service = amigo_api.add_service()
    client = api(amigo_api)

    async def create() -> list[str]:
        ids = []
        for index in range(5):
            ids.append(
                (
                    await client.metrics.create_metric(
                        metric_body(f"M{index}", {"type": "boolean"})
                    )
                ).id
            )
        for _ in range(3):
            events = [
                e.root
                async for e in await client.conversations.create_conversation(
                    ConversationCreateConversationRequest(service_id=service.id), TEXT
                )
            ]
            ids.append(str(events[0].conversation_id))
            await client.conversations.finish_conversation(ids[-1])
        return ids

    ids = asyncio.run(create())
    assert sorted(ids) == ids  # later ids sort after earlier ones, as ObjectIds do
    seconds = int(ids[0][:8], 16)  # they lead with the creation time
    assert abs(seconds - datetime.now(timezone.utc).timestamp()) < 300


def test_rate_limits_and_conversation_pages_are_per_user(amigo_api: FakeAmigoAPI) -> None:
    amigo_api.rate_window = 60.0
    other = amigo_api.add_user()

    def statuses(user_id: str, count: int) -> list[int]:
        with httpx.Client(transport=amigo_api.transport, base_url=amigo_api.base_url) as raw:
            user = amigo_api.users[user_id]
            token = raw.post(
                f"/v1/{amigo_api.organization_id}/user/signin_with_api_key",
                headers={
                    "x-api-key": user.api_key,
                    "x-api-key-id": user.api_key_id,
                    "x-user-id": user.id,
                },
            ).json()["id_token"]
            return [
                raw.get(
                    f"/v1/{amigo_api.organization_id}/metric/metric_evaluation_result",
                    headers={"Authorization": f"Bearer {token}"},
                ).status_code
                for _ in range(count)
            ]

    assert statuses(amigo_api.user_id, 11) == [200] * 10 + [429]
    assert statuses(other.id, 10) == [200] * 10  # the other user's minute is untouched

    service = amigo_api.add_service()
    client = api(amigo_api)

    async def pages() -> list[list[str]]:
        for _ in range(3):
            events = [
                e.root
                async for e in await client.conversations.create_conversation(
                    ConversationCreateConversationRequest(service_id=service.id), TEXT
                )
            ]
            await client.conversations.finish_conversation(events[0].conversation_id)
        found, token = [], 0
        while True:
            page = await client.conversations.get_conversations(
                GetConversationsParametersQuery(
                    limit=2, continuation_token=token, sort_by=["-created_at"]
                )
            )
            found.append([c.id for c in page.conversations])
            if not page.has_more:
                break
            token = page.continuation_token or 0
        await client.aclose()
        return found

    found = asyncio.run(pages())
    assert [len(p) for p in found] == [2, 1]
    flat = [i for p in found for i in p]
    assert flat == sorted(amigo_api.org.conversations, reverse=True)  # newest first
