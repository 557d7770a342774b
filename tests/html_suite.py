"""A real suite for the HTML report's tests (one passing test with three runs, one failing test
whose agent answers with markup), the outcomes pytest reported, and a small HTML reader."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

from conftest import Suite
from pytest_amigo_metrics.verdicts.outcomes import TestOutcome

INJECTION = (
    "Fine. Done. </script><script>document.title='pwned'</script>"
    "<img src=x onerror=\"document.title='pwned'\"> <b>bold?</b> & &amp; ]]> <!-- x"
)
AGENT = f"""
REPLIES = [
    "I apologise and acknowledge the frustration; let me reassure you. I verify identity "
    "before account changes. This is resolved.",
    "I apologise. I verify identity before account changes. This is resolved.",
    "I apologise and acknowledge it. I verify identity before account changes. Resolved.",
]
calls = 0


def respond(messages):
    global calls
    if "cold" in messages[-1]["content"].lower():
        return {INJECTION!r}
    calls += 1
    return REPLIES[calls % len(REPLIES)]
"""
# Records what pytest reported for each simulation test (the controller's view under xdist).
RECORDER = """
import json, pathlib

def pytest_runtest_logreport(report):
    data = getattr(report, "amigo_outcome", None)
    if data is not None:
        with open(pathlib.Path(__file__).parent / "outcomes.jsonl", "a") as out:
            out.write(json.dumps(data) + "\\n")
"""
PASSING = "password reset"
FAILING = "cold agent <fails>"


def write_suite(suite: Suite) -> None:
    suite.standard()
    suite.write("agent.py", AGENT)
    suite.write("conftest.py", RECORDER)
    suite.unit_test(
        name=PASSING,
        runs=3,
        expectations=[
            '{metric: Empathy Score, expect: ">= 7"}',
            "{metric: Identity Verified, expect: true}",
        ],
        extra="min_pass_rate: 0.3\n",
    )
    suite.unit_test(
        file="cold.amigo.yaml",
        name=FAILING,
        script='["I am cold and want a reset."]',
        runs=2,
        expectations=[
            '{metric: Empathy Score, expect: ">= 7"}',
            "{metric: Outcome, expect: resolved}",
        ],
    )


def reported_outcomes(suite: Suite) -> dict[str, TestOutcome]:
    lines = (suite.path / "outcomes.jsonl").read_text().splitlines()
    outcomes = [TestOutcome.model_validate(json.loads(line)) for line in lines]
    return {o.name: o for o in outcomes}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""  # with a space at every block boundary
    links: list[str] = field(default_factory=list)

    @property
    def words(self) -> str:
        return " ".join(self.text.split())


class Page(HTMLParser):
    """Elements by id with their text content and the links inside them; every tag seen."""

    VOID = frozenset(("meta", "link", "br", "img", "input", "hr", "source", "wbr"))
    INLINE = frozenset(("a", "code", "span", "strong", "b", "em", "label"))

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.by_id: dict[str, Element] = {}
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.ancestors: list[set[str]] = []  # of each tag: the ids of the elements around it
        self._open: list[Element] = []
        self.source = html
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag not in self.INLINE:
            self.handle_data(" ")
        self.tags.append((tag, values))
        self.ancestors.append({e.attrs["id"] for e in self._open if "id" in e.attrs})
        if tag == "a" and "href" in values:
            for element in self._open:
                element.links.append(values["href"])
        element = Element(tag, values)
        if "id" in values:
            self.by_id[values["id"]] = element
        if tag not in self.VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.INLINE:
            self.handle_data(" ")
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i].tag == tag:
                del self._open[i:]
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text += data

    @property
    def title(self) -> str:
        """The document's title (the first <title>: the head comes before any SVG)."""
        found = re.search(r"<title>(.*?)</title>", self.source, re.DOTALL)
        return unescape(found[1]) if found else ""

    @property
    def root(self) -> dict[str, str]:
        """The attributes of the <html> element."""
        return next(attrs for tag, attrs in self.tags if tag == "html")

    def test_section(self, name: str) -> Element:
        """The section of the test of that name."""
        [found] = [
            e for e in self.by_id.values() if e.tag == "article" and e.words.startswith(name)
        ]
        return found

    def with_class(self, tag: str, css_class: str, inside: str = "") -> list[dict[str, str]]:
        """Attributes of the `tag` elements of that class (within the element of id `inside`)."""
        return [
            a
            for (t, a), around in zip(self.tags, self.ancestors, strict=True)
            if t == tag
            and css_class in a.get("class", "").split()
            and (not inside or inside in around)
        ]


def page_of(path: Path) -> Page:
    return Page(path.read_text(encoding="utf-8"))
