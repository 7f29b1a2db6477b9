"""The offline demo model recognises its few requests in time linear in the text, whatever the text."""

from __future__ import annotations

import time

import pytest

from chat.llm.demo import DemoModel

TOOLS = {"builtin__calculator", "builtin__current_time", "builtin__convert_units"}


@pytest.mark.parametrize(
    ("text", "name", "arguments"),
    [
        ("what is 12*7", "builtin__calculator", {"expression": "12*7"}),
        ("What is (2+3)^2 / 4 ?", "builtin__calculator", {"expression": "(2+3)^2 / 4"}),
        ("what time is it in Europe/Paris", "builtin__current_time", {"timezone": "Europe/Paris"}),
        ("convert 5 km to mi", "builtin__convert_units", {"value": 5.0, "from_unit": "km", "to_unit": "mi"}),
    ],
)
def test_the_demo_model_still_recognises_its_requests(text, name, arguments):
    call = DemoModel._tool_call_for(text, TOOLS)
    assert (call.name, call.arguments) == (name, arguments)


@pytest.mark.parametrize(
    "text",
    [
        "what is" + " " * 400 + "x",
        "what is" + " " * 290 + "x",
        "calculate " + "1 " * 140 + "x",
        "time " * 60 + "x",
        "convert 1" + " " * 280 + "x",
        "what is " + "(" * 5000,
    ],
)
def test_hostile_text_is_answered_at_once(text):
    started = time.perf_counter()
    DemoModel._tool_call_for(text, TOOLS)
    assert time.perf_counter() - started < 0.05


def test_a_malformed_number_to_convert_is_not_a_tool_call():
    assert DemoModel._tool_call_for("convert 1.2.3 km to mi", TOOLS) is None
