"""The model gateway's retry policy, as plain functions."""

from __future__ import annotations

import datetime
import email.utils

import httpx

from pytest_amigo_metrics.models.llm import RetryPolicy, load_litellm, retry_after


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(attempts=5, base_delay=1.0, max_delay=5.0)
    assert [policy.delay(a) for a in range(4)] == [1.0, 2.0, 4.0, 5.0]


def test_retry_after_wins_when_longer_but_stays_capped() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0)
    assert policy.delay(0, retry_after=7.0) == 7.0
    assert policy.delay(3, retry_after=2.0) == 8.0
    assert policy.delay(0, retry_after=120.0) == 30.0


def test_retry_after_is_read_from_a_rate_limit_error() -> None:
    litellm = load_litellm()
    request = httpx.Request("POST", "https://example.invalid/v1/chat")
    response = httpx.Response(429, headers={"Retry-After": "12"}, request=request)
    error = litellm.RateLimitError(
        message="slow down", llm_provider="openai", model="gpt", response=response
    )
    assert retry_after(error) == 12.0
    assert retry_after(ValueError("no response")) is None


def test_retry_after_as_an_http_date_is_the_seconds_until_then() -> None:
    litellm = load_litellm()
    request = httpx.Request("POST", "https://example.invalid/v1/chat")
    when = email.utils.format_datetime(
        datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=40), usegmt=True
    )
    response = httpx.Response(429, headers={"Retry-After": when}, request=request)
    error = litellm.RateLimitError(
        message="slow down", llm_provider="openai", model="gpt", response=response
    )
    waited = retry_after(error)
    assert waited is not None and 30 < waited <= 40
