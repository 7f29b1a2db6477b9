"""The built-in tools, called the way the model calls them: through a hub, over a real in-memory MCP session."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from chat import offloop
from chat.calc import calculate
from chat.tools.builtin import server as builtin_server
from chat.tools.config import memory_server
from chat.tools.hub import Hub


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    hub = Hub({"builtin": memory_server("builtin", builtin_server)})
    yield hub
    await hub.aclose()


async def test_the_built_in_server_offers_exactly_its_three_safe_tools(hub: Hub) -> None:
    names = sorted(tool.spec.name for tool in await hub.list_tools())
    assert names == ["builtin__calculator", "builtin__convert_units", "builtin__current_time"]


@pytest.mark.parametrize(
    ("expression", "answer"),
    [("12*7", "84"), ("(2+3)^2 / sqrt(16)", "6.25"), ("2**10", "1024"), ("-7 // 2", "-4"), ("round(pi, 2)", "3.14")],
)
async def test_calculator_evaluates_arithmetic(hub: Hub, expression: str, answer: str) -> None:
    result = await hub.call("builtin__calculator", {"expression": expression})
    assert (result.text, result.is_error, result.kind) == (answer, False, "result")


async def test_calculator_reports_division_by_zero_as_an_error_result(hub: Hub) -> None:
    result = await hub.call("builtin__calculator", {"expression": "1/0"})
    assert result.is_error and result.kind == "error"
    assert "Division by zero" in result.text


@pytest.mark.parametrize(
    "expression",
    ["__import__('os')", "__import__('os').system('true')", "open('/etc/passwd')", "(1).__class__", "[1, 2]", "x"],
)
async def test_calculator_refuses_anything_but_arithmetic(hub: Hub, expression: str) -> None:
    result = await hub.call("builtin__calculator", {"expression": expression})
    assert result.is_error and result.kind == "error", result
    assert "Unsupported element" in result.text or "Not an arithmetic expression" in result.text


async def test_calculator_refuses_huge_exponents_instead_of_hanging(hub: Hub) -> None:
    result = await hub.call("builtin__calculator", {"expression": "9**9**9"})
    assert result.is_error and "too large" in result.text


async def test_calculator_arguments_are_validated_by_schema_before_any_work(hub: Hub) -> None:
    missing = await hub.call("builtin__calculator", {})
    mistyped = await hub.call("builtin__calculator", {"expression": 12})
    assert (missing.kind, mistyped.kind) == ("invalid", "invalid")
    assert "'expression' is a required property" in missing.text
    assert "12 is not of type 'string'" in mistyped.text


async def test_current_time_answers_in_the_requested_zone(hub: Hub) -> None:
    result = await hub.call("builtin__current_time", {"timezone": "Asia/Tokyo"})
    assert not result.is_error, result
    assert datetime.fromisoformat(result.text).utcoffset().total_seconds() == 9 * 3600


async def test_current_time_defaults_to_utc(hub: Hub) -> None:
    result = await hub.call("builtin__current_time", {})
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", result.text), result


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "../../etc/passwd", ""])
async def test_current_time_reports_an_unknown_zone_as_an_error_result(hub: Hub, zone: str) -> None:
    result = await hub.call("builtin__current_time", {"timezone": zone})
    assert result.is_error and result.kind == "error"
    assert "Unknown time zone" in result.text


@pytest.mark.parametrize(
    ("value", "source", "target", "answer"),
    [(5, "km", "mi", "5 km = 3.106856 mi"), (100, "c", "f", "100 c = 212 f"), (2, "pounds", "kg", "2 pounds = 0.907185 kg")],
)
async def test_convert_units_converts_within_a_dimension(hub: Hub, value: float, source: str, target: str, answer: str) -> None:
    result = await hub.call("builtin__convert_units", {"value": value, "from_unit": source, "to_unit": target})
    assert (result.text, result.is_error) == (answer, False)


async def test_convert_units_refuses_incompatible_units(hub: Hub) -> None:
    result = await hub.call("builtin__convert_units", {"value": 5, "from_unit": "km", "to_unit": "kg"})
    assert result.is_error and result.kind == "error"
    assert "Cannot convert 'km' to 'kg'" in result.text


async def test_convert_units_refuses_temperatures_below_absolute_zero(hub: Hub) -> None:
    result = await hub.call("builtin__convert_units", {"value": -500, "from_unit": "c", "to_unit": "k"})
    assert result.is_error and "absolute zero" in result.text


async def test_convert_units_value_must_be_a_number(hub: Hub) -> None:
    result = await hub.call("builtin__convert_units", {"value": "five", "from_unit": "km", "to_unit": "mi"})
    assert result.kind == "invalid" and "'five' is not of type 'number'" in result.text


@pytest.mark.parametrize(
    "expression", ["((9^999)^999)^10", "9^999 * 9^999 * 9^999", "10**999 * 10**999", "round(5, -100000000)"]
)
async def test_calculator_refuses_a_huge_result_at_once_with_a_clear_error_and_no_traceback(
    hub: Hub, expression: str, caplog: pytest.LogCaptureFixture
) -> None:
    started = time.monotonic()
    result = await hub.call("builtin__calculator", {"expression": expression})
    assert time.monotonic() - started < 2, "refusing a huge result should take no time"
    assert result.is_error and result.kind == "error", result
    assert "more than 1000 digits" in result.text or "number of digits" in result.text, result.text
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_calculator_still_answers_a_large_result_within_the_bound(hub: Hub) -> None:
    result = await hub.call("builtin__calculator", {"expression": "9^999"})
    assert not result.is_error and len(result.text) == 954


async def test_work_that_overruns_its_time_limit_is_killed_and_the_pool_recovers() -> None:
    started = time.monotonic()
    with pytest.raises(offloop.Overrun, match="longer than 0.2 s"):
        await offloop.run(time.sleep, 30, limit_seconds=0.2)  # allowed-sleep: the runaway work the limit must kill in the worker
    assert time.monotonic() - started < 5
    assert await offloop.run(calculate, "6*7", limit_seconds=10) == "42"
