"""Models on your own endpoints: api_base, api_version and extra_headers per role, over HTTP."""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

import pytest
from openai_server import closed_port_url, openai_server

from conftest import Suite

VERDICT = json.dumps({"value": 8, "justification": "Warm and apologetic.", "references": []})


@pytest.fixture(autouse=True)
def provider_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "local-server-needs-no-key")


def judge_answers(body: dict[str, Any]) -> str:
    return VERDICT


def model_target_test(suite: Suite, target: str, extra: str) -> None:
    """A test whose agent is a `model:` target (`target`, a YAML flow mapping)."""
    suite.write(
        "t.amigo.yaml",
        f"""
        simulation_unit_tests:
          - name: served
            persona: {{name: Sam, background: A busy customer.}}
            scenario: {{name: Reset, objective: Reset my password., instructions: Be brief.}}
            target: {target}
            {extra}
            metrics: [{{metric: Outcome, expect: resolved}}]
        """,
    )


def test_a_judge_on_your_own_server_from_yaml(suite: Suite) -> None:
    suite.standard()
    with openai_server(judge_answers) as server:
        suite.unit_test(
            extra=f"""
            models:
              judge:
                model: openai/local-judge
                api_base: "{server.url}"
                extra_headers: {{X-Team: quality}}
            """
        )
        result = suite.pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    assert [r.path for r in server.requests] == ["/v1/chat/completions"]
    request = server.requests[0]
    assert request.body["model"] == "local-judge"
    assert request.headers["x-team"] == "quality"
    assert request.body["temperature"] == 0
    result.stdout.fnmatch_lines([f"*judge openai/local-judge at {server.url}*"])


def test_the_api_base_option_points_a_role_at_a_server(suite: Suite) -> None:
    suite.standard()
    suite.unit_test()
    with openai_server(judge_answers) as server:
        result = suite.pytester.runpytest(
            "--amigo-judge-model", "openai/other-judge", "--amigo-judge-api-base", server.url
        )
    result.assert_outcomes(passed=1)
    assert [r.body["model"] for r in server.requests] == ["other-judge"]


def test_a_model_target_and_simulator_on_your_own_server(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.standard()

    def respond(body: dict[str, Any]) -> str:
        if body["model"] == "sim":
            turns = sum(1 for m in body["messages"] if m["role"] == "assistant")
            if turns:
                return json.dumps({"action": "objective_reached", "message": ""})
            return json.dumps({"action": "send", "message": "I am locked out."})
        return "I apologise; I verified your identity and reset it. Resolved."

    with openai_server(respond) as server:
        monkeypatch.setenv("AMIGO_METRICS_SIMULATOR_API_BASE", server.url)
        model_target_test(
            suite,
            f'{{model: openai/my-agent, api_base: "{server.url}", api_version: "2024-06-01"}}',
            "models: {simulator: openai/sim}",
        )
        result = suite.pytester.runpytest()
    result.assert_outcomes(passed=1)
    models = [r.body["model"] for r in server.requests]
    assert models.count("my-agent") == 1 and models.count("sim") == 2


def test_a_server_that_cannot_be_reached_names_role_model_and_url(suite: Suite) -> None:
    suite.standard()
    url = closed_port_url()
    suite.unit_test(extra=f'models: {{judge: {{model: openai/local-judge, api_base: "{url}"}}}}\n')
    result = suite.pytester.runpytest(
        "--amigo-retry-attempts", "2", "--amigo-retry-base-delay", "0"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [f"*judge model 'openai/local-judge' at {url} could not be reached after 2 attempts*"]
    )
    assert "Give Feedback" not in result.stdout.str()
    assert "github.com/BerriAI" not in result.stdout.str()


def test_a_server_that_cuts_its_answer_off_is_told_apart_from_one_not_reached(
    suite: Suite,
) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve() -> None:  # headers promise 500 bytes; the connection closes after 16
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with client:
                received = b""
                while b"\r\n\r\n" not in received:
                    received += client.recv(65536)
                client.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b'Content-Length: 500\r\n\r\n{"id": "x", "cho'
                )

    threading.Thread(target=serve, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    suite.standard()
    suite.unit_test(extra=f'models: {{judge: {{model: openai/local-judge, api_base: "{url}"}}}}\n')
    try:
        result = suite.pytester.runpytest(
            "--amigo-retry-attempts", "2", "--amigo-retry-base-delay", "0"
        )
    finally:
        listener.close()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"*judge model 'openai/local-judge' at {url} * after 2 attempts "
            "(infrastructure, not a quality failure): *"
        ]
    )
    out = result.stdout.str()
    # Recent litellm releases see the cut as a transport error (older ones: unreadable JSON).
    if "Connection error" in out:
        assert "broke off its answers" in out and "(ReadError: " in out
    assert "could not be reached" not in result.stdout.str()


@pytest.mark.parametrize("header", ["Authorization", "X-Api-Key", "api-token"])
def test_credentials_in_headers_are_refused_at_collection(suite: Suite, header: str) -> None:
    suite.standard()
    suite.unit_test(
        extra=f"models: {{judge: {{model: openai/j, extra_headers: {{{header}: abc}}}}}}\n"
    )
    result = suite.pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"*models.judge.extra_headers: header '{header}' carries a credential, and "
            "credentials never go in a suite file",
            "    fix: remove the header and set the provider's key in the environment "
            "(e.g. OPENAI_API_KEY), where litellm reads it*",
        ]
    )


@pytest.mark.parametrize("where", ["", "defaults"])
def test_an_agent_model_under_models_says_where_the_agents_model_goes(
    suite: Suite, where: str
) -> None:
    """The agent is the third role, with --amigo-agent-model: `models: {agent: ...}` is the
    natural guess; the fix says the agent's model is the target's."""
    suite.standard()
    if where:
        suite.write(
            "tests.amigo.yaml",
            "defaults:\n  models: {agent: openai/gpt-4o-mini}\n" + (suite.unit_test().read_text()),
        )
    else:
        suite.unit_test(extra="models: {agent: openai/gpt-4o-mini}\n")
    result = suite.pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "tests.amigo.yaml:*: *models.agent: unknown key 'agent'",
            "    fix: the agent's model is the target's: `target: {model: openai/gpt-4o-mini}` "
            "(or --amigo-agent-model for every test); allowed keys: judge, simulator",
        ]
    )


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("models: {judge: {model: openai/j, api_key: abc}}\n", "models.judge.api_key"),
        ("models: {judge: {model: openai/j, token: abc}}\n", "models.judge.token"),
    ],
)
def test_a_key_in_the_yaml_is_an_unknown_key(suite: Suite, extra: str, field: str) -> None:
    suite.standard()
    suite.unit_test(extra=extra)
    result = suite.pytester.runpytest()
    result.assert_outcomes(errors=1)
    key = field.rsplit(".", 1)[1]
    result.stdout.fnmatch_lines(
        [
            f"*{field}: unknown key '{key}': credentials never go in a suite file",
            "    fix: remove it and set the provider's key in the environment (e.g. OPENAI_API_KEY)*",
        ]
    )
    # `api_key` is close to `api_base`: suggesting it would have the key written as a URL.
    assert "did you mean `api_base`" not in result.stdout.str()


def test_a_key_in_a_model_target_is_not_taken_for_a_typo_of_api_base(suite: Suite) -> None:
    suite.standard()
    suite.write(
        "tests.amigo.yaml",
        """
        simulation_unit_tests:
          - name: t
            persona: {name: Sam, background: A busy customer.}
            scenario: {name: Reset, objective: Reset my password., instructions: Be brief.}
            target: {model: openai/agent, api_key: sk-abc}
            metrics: [{metric: Outcome, expect: resolved}]
        """,
    )
    result = suite.pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "tests.amigo.yaml:5: simulation_unit_tests[0].target.api_key: unknown key 'api_key': "
            "credentials never go in a suite file",
            "    fix: remove it and set the provider's key in the environment*",
        ]
    )
    assert "did you mean `api_base`" not in result.stdout.str()
    assert "sk-abc" not in result.stdout.str()


def test_an_answer_without_choices_is_retried_then_an_error_that_is_stored(suite: Suite) -> None:
    suite.standard()
    no_choices = {"id": "x", "object": "chat.completion", "created": 0, "choices": []}
    with openai_server(lambda body: no_choices) as server:
        suite.unit_test(
            name="bad judge",
            extra=f'models: {{judge: {{model: openai/j, api_base: "{server.url}"}}}}\n',
        )
        suite.unit_test(file="good.amigo.yaml", name="good")
        result = suite.pytester.runpytest(
            "--amigo-retry-attempts", "2", "--amigo-retry-base-delay", "0"
        )
    result.assert_outcomes(passed=1, errors=1)
    assert len(server.requests) == 2  # retried
    result.stdout.fnmatch_lines(
        [
            "*judge model 'openai/j' at * still failing after 2 attempts (infrastructure*no `choices`*"
        ]
    )
    assert "IndexError" not in result.stdout.str()
    stored = suite.rows("SELECT name, outcome FROM test_outcomes ORDER BY name")
    assert [tuple(row) for row in stored] == [("bad judge", "error"), ("good", "passed")]


def test_a_model_agent_that_answers_nothing_is_an_error(suite: Suite) -> None:
    suite.standard()
    with openai_server(lambda body: "") as server:
        model_target_test(
            suite,
            f'{{model: openai/my-agent, api_base: "{server.url}"}}',
            'script: ["I forgot my password."]',
        )
        result = suite.pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*user turn 1: the agent 'openai/my-agent at *' returned an empty reply*"]
    )


def test_a_key_in_an_api_base_query_string_is_masked_everywhere(suite: Suite) -> None:
    suite.standard()
    secret = "AIzaSyFAKESECRET1234567890"
    url = closed_port_url() + f"?key={secret}&region=eu"
    suite.unit_test(extra=f'models: {{judge: {{model: openai/j, api_base: "{url}"}}}}\n')
    result = suite.pytester.runpytest(
        "--amigo-retry-attempts", "1", "--junitxml=o.xml", "--amigo-json=r.json"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*judge model 'openai/j' at *?key=***&region=eu*"])
    written = [result.stdout.str(), (suite.path / "o.xml").read_text()]
    written += [(suite.path / "r.json").read_text(), suite.store.read_bytes().decode("latin-1")]
    assert not [text for text in written if secret in text]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("127.0.0.1:18765/v1", "has a form that is not allowed (got '127.0.0.1:18765/v1')"),
        ("not a url", "has a form that is not allowed (got 'not a url')"),
        ("ftp://host/v1", "has a form that is not allowed (got 'ftp://host/v1')"),
        ("http://[::1:8000/v1", "'http://[::1:8000/v1' is not a server's base URL*"),
    ],
)
def test_an_api_base_that_is_not_a_url_is_a_located_error_at_collection(
    suite: Suite, url: str, message: str
) -> None:
    suite.standard()
    suite.unit_test(extra=f'models: {{judge: {{model: openai/j, api_base: "{url}"}}}}\n')
    result = suite.pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [f"tests.amigo.yaml:10: *models.judge.api_base: {message}", "    fix: *http://*"]
    )
    assert not suite.store.exists()


def test_an_api_base_holding_credentials_is_an_error_that_never_shows_the_password(
    suite: Suite,
) -> None:
    """litellm's HTTP client refuses `user:password@` beside its own Authorization header: every
    call would fail, retried as if the server were down. Credentials never go in a suite file."""
    password = "s3cret-pass-w0rd"
    suite.standard()
    url = f"http://bob:{password}@127.0.0.1:8000/v1"
    suite.unit_test(extra=f'models: {{judge: {{model: openai/j, api_base: "{url}"}}}}\n')
    result = suite.pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "tests.amigo.yaml:10: *models.judge.api_base: 'http://***@127.0.0.1:8000/v1' "
            "holds credentials (`user:password@`)*",
            "    fix: *",
        ]
    )
    assert password not in result.stdout.str() + result.stderr.str()

    for given in (url, f"https://{password}@127.0.0.1:8000/v1"):  # a token as the user name
        result = suite.pytester.runpytest("--amigo-judge-api-base", given)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(
            ["*--amigo-judge-api-base*'http*://***@127.0.0.1:8000/v1' holds*"]
        )
        assert password not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("url", ["localhost:8000", "http://[::1:8000/v1", "http://127.0.0.1/v1 "])
def test_an_api_base_option_that_is_not_a_url_is_a_usage_error(suite: Suite, url: str) -> None:
    suite.standard()
    suite.unit_test()
    result = suite.pytester.runpytest("--amigo-judge-api-base", url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*--amigo-judge-api-base / AMIGO_METRICS_JUDGE_API_BASE / ini amigo_judge_api_base: "
            f"{url!r} is not a server's base URL*"
        ]
    )


def test_a_missing_provider_key_is_one_attempt_with_the_fix(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No attempt can succeed without a key: the error says how to give one, at once."""
    monkeypatch.delenv("OPENAI_API_KEY")
    suite.standard()
    suite.unit_test()
    with openai_server(judge_answers) as server:
        result = suite.pytester.runpytest(
            "--amigo-judge-model", "openai/local-judge", "--amigo-judge-api-base", server.url
        )
    result.assert_outcomes(errors=1)
    assert server.requests == []
    result.stdout.fnmatch_lines(
        [
            "*judge model 'openai/local-judge' at * failed, not retried: *Missing credentials*",
            "*fix: set the provider's key in the environment (OPENAI_API_KEY, ...); *"
            "OPENAI_API_KEY=unused",
        ]
    )
    assert "attempts" not in result.stdout.str()
