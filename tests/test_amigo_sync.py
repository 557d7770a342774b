"""The metric sync against the fake organization, called directly."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("amigo_sdk")

from pytest_amigo_metrics.amigo import sync
from pytest_amigo_metrics.amigo.client import AmigoAPI
from pytest_amigo_metrics.models.llm import RetryPolicy
from pytest_amigo_metrics.suite.spec import MetricSpec
from pytest_amigo_metrics.testing import FakeAmigoAPI

EMPATHY = MetricSpec.model_validate(
    {
        "name": "Empathy Score",
        "description": "How warm was the agent?",
        "metric_value": {"type": "numerical", "lower_bound": 1, "upper_bound": 10},
        "tags": {"team": "support"},
    }
)


def synced(fake: FakeAmigoAPI, spec: MetricSpec) -> sync.SyncedMetric:
    async def go() -> sync.SyncedMetric:
        api = AmigoAPI(
            fake.credentials(),
            retry=RetryPolicy(attempts=2, base_delay=0.01),
            transport=fake.transport,
            rate_window=0.2,
        )
        try:
            return await sync.sync_metric(api, spec, await sync.live_metrics(api))
        finally:
            await api.aclose()

    with fake.serve_sdk():
        return asyncio.run(go())


def test_resync_of_an_unchanged_metric_changes_nothing(amigo_api: FakeAmigoAPI) -> None:
    first = synced(amigo_api, EMPATHY)
    assert first.actions == ("created",)
    again = synced(amigo_api, EMPATHY)  # bounds come back as 1.0 and 10.0: still the same
    assert (again.metric_id, again.version, again.actions) == (first.metric_id, 1, ("unchanged",))


def test_a_metric_created_meanwhile_elsewhere_is_adopted(amigo_api: FakeAmigoAPI) -> None:
    first = synced(amigo_api, EMPATHY)

    async def race() -> sync.SyncedMetric:
        api = AmigoAPI(
            amigo_api.credentials(), retry=RetryPolicy(2, 0.01), transport=amigo_api.transport
        )
        try:  # as if our listing had been taken before the other session created it
            return await sync.sync_metric(api, EMPATHY, {})
        finally:
            await api.aclose()

    with amigo_api.serve_sdk():
        adopted = asyncio.run(race())
    assert adopted.metric_id == first.metric_id
    assert len(amigo_api.org.metrics) == 1


def test_a_deleted_name_is_refused(amigo_api: FakeAmigoAPI) -> None:
    first = synced(amigo_api, EMPATHY)
    amigo_api.org.metrics[first.metric_id].is_deleted = True
    with pytest.raises(sync.DeletedMetric, match="deleted in the Amigo organization"):
        synced(amigo_api, EMPATHY)


def test_a_new_bound_is_a_new_version(amigo_api: FakeAmigoAPI) -> None:
    synced(amigo_api, EMPATHY)
    wider = EMPATHY.model_copy(
        update={"metric_value": EMPATHY.metric_value.model_copy(update={"upper_bound": 5.0})}
    )
    result = synced(amigo_api, wider)
    assert (result.version, result.actions) == (2, ("new version",))


def test_notes_tags_and_services_the_yaml_leaves_out_stay_as_they_are(
    amigo_api: FakeAmigoAPI,
) -> None:
    """The organization's metric may be shared with services and people outside the suite:
    like the API's update, a sync changes only what the YAML sets."""
    first = synced(amigo_api, EMPATHY)
    stored = amigo_api.org.metrics[first.metric_id]
    service = "a" * 24
    stored.applied_to_services, stored.additional_notes = [service], "used by the support team"
    bare = MetricSpec.model_validate(EMPATHY.model_dump(exclude={"tags"}, exclude_unset=True))
    assert synced(amigo_api, bare).actions == ("unchanged",)
    assert (stored.applied_to_services, stored.additional_notes, stored.tags) == (
        [service],
        "used by the support team",
        {"team": "support"},
    )
    cleared = MetricSpec.model_validate(
        {**EMPATHY.model_dump(exclude_unset=True), "tags": {}, "additional_notes": None}
    )
    assert synced(amigo_api, cleared).actions == ("updated",)
    assert (stored.applied_to_services, stored.additional_notes, stored.tags) == (
        [service],
        None,
        {},
    )


def new_version(fake: FakeAmigoAPI, metric_id: str, spec: MetricSpec, expected: int) -> int:
    async def go() -> int:
        api = AmigoAPI(fake.credentials(), retry=RetryPolicy(2, 0.01), transport=fake.transport)
        try:
            return await sync._new_version(api, metric_id, spec, expected)
        finally:
            await api.aclose()

    with fake.serve_sdk():
        return asyncio.run(go())


WARMER = EMPATHY.model_copy(update={"description": "How warm and attentive was the agent?"})


def test_a_version_another_session_made_of_the_same_change_is_adopted(
    amigo_api: FakeAmigoAPI,
) -> None:
    metric = amigo_api.org.metrics[synced(amigo_api, EMPATHY).metric_id]
    # Another CI job synced the same edit between our read of the latest version and our write.
    assert synced(amigo_api, WARMER).version == 2
    assert new_version(amigo_api, metric.id, WARMER, expected=2) == 2
    assert [v.version for v in metric.versions] == [1, 2]


def test_a_version_another_session_made_of_another_change_is_followed_by_ours(
    amigo_api: FakeAmigoAPI,
) -> None:
    metric = amigo_api.org.metrics[synced(amigo_api, EMPATHY).metric_id]
    synced(amigo_api, WARMER)
    kinder = EMPATHY.model_copy(update={"description": "How kind was the agent?"})
    assert new_version(amigo_api, metric.id, kinder, expected=2) == 3
    assert metric.latest.description == "How kind was the agent?"
