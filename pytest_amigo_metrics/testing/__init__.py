"""Test the plugin's Amigo integration, or your own, offline: a fake Amigo API.

    def test_metrics(amigo_api):          # the fixture: a FakeAmigoAPI serving the SDK
        service = amigo_api.add_service()
        ...

or, for a pytest run of YAML suites: `pytester.runpytest(plugins=[fake.plugin()])`, or
`config.pluginmanager.register(fake.plugin())` in a conftest's pytest_configure.
"""

from .fake_api import FakeAmigoAPI, RecordedRequest, default_evaluator
from .pytest_plugin import FakeAmigoPlugin
from .state import FakeConversation, FakeMessage, FakeMetric, FakeService, default_reply

__all__ = [
    "FakeAmigoAPI",
    "FakeAmigoPlugin",
    "FakeConversation",
    "FakeMessage",
    "FakeMetric",
    "FakeService",
    "RecordedRequest",
    "default_evaluator",
    "default_reply",
]
