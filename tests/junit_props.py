"""Read the <property> entries of a JUnit XML file, per test case name."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path


def junit_properties(path: Path) -> dict[str, dict[str, str]]:
    cases = ET.parse(path).getroot().iter("testcase")
    return {
        case.attrib["name"]: {p.attrib["name"]: p.attrib["value"] for p in case.iter("property")}
        for case in cases
    }
