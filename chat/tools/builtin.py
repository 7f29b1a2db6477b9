"""The built-in MCP tool server: safe tools that need no network and no keys."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.conf import settings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from chat import calc, offloop

# The tools are async on purpose: the SDK runs sync tools on anyio worker threads, which are not
# daemons and outlive daphne's loop, so the process would hang on SIGTERM.
server = MCPServer("builtin", instructions="Calculator, clock and unit conversion. Offline and side-effect free.")

@server.tool(title="Calculator")
async def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression such as "12*7" or "(2+3)^2 / sqrt(16)".

    Supports + - * / // % ** (or ^), parentheses, sqrt, abs, round, pi and e.
    """
    try:
        return await offloop.run(calc.calculate, expression, limit_seconds=settings.CHAT_CALCULATOR_TIMEOUT_SECONDS)
    except calc.CalcError as exc:
        raise ToolError(str(exc)) from None
    except offloop.Overrun as exc:
        raise ToolError(f"The calculation was stopped: it {exc}.") from None


@server.tool(title="Clock")
async def current_time(timezone: str = "UTC") -> str:
    """The current date and time in an IANA time zone such as "Europe/Paris" or "UTC"."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ToolError(f"Unknown time zone {timezone!r}; use an IANA name like 'Europe/Paris'.") from exc
    if timezone not in available_timezones() and timezone != "UTC":
        raise ToolError(f"Unknown time zone {timezone!r}; use an IANA name like 'Europe/Paris'.")
    return datetime.now(zone).isoformat(timespec="seconds")


# Linear units: factor to the base unit of each dimension.
_LINEAR = {
    "length": {"m": 1.0, "km": 1000.0, "cm": 0.01, "mm": 0.001, "mi": 1609.344, "yd": 0.9144, "ft": 0.3048, "in": 0.0254},
    "mass": {"kg": 1.0, "g": 0.001, "mg": 1e-6, "lb": 0.45359237, "oz": 0.028349523125, "t": 1000.0},
    "volume": {"l": 1.0, "ml": 0.001, "gal": 3.785411784, "qt": 0.946352946, "cup": 0.2365882365},
    "time": {"s": 1.0, "min": 60.0, "h": 3600.0, "day": 86400.0, "week": 604800.0},
}
_TEMPERATURE = {"c", "f", "k"}
_ALIASES = {
    "meter": "m", "meters": "m", "metre": "m", "kilometer": "km", "kilometers": "km", "mile": "mi", "miles": "mi",
    "foot": "ft", "feet": "ft", "inch": "in", "inches": "in", "yard": "yd", "yards": "yd",
    "kilogram": "kg", "kilograms": "kg", "gram": "g", "grams": "g", "pound": "lb", "pounds": "lb", "lbs": "lb",
    "ounce": "oz", "ounces": "oz", "liter": "l", "liters": "l", "litre": "l", "gallon": "gal", "gallons": "gal",
    "second": "s", "seconds": "s", "minute": "min", "minutes": "min", "hour": "h", "hours": "h", "days": "day",
    "celsius": "c", "fahrenheit": "f", "kelvin": "k", "°c": "c", "°f": "f",
}


def _unit(name: str) -> str:
    key = name.strip().lower()
    return _ALIASES.get(key, key)


def convert(value: float, from_unit: str, to_unit: str) -> float:
    source, target = _unit(from_unit), _unit(to_unit)
    if source in _TEMPERATURE and target in _TEMPERATURE:
        kelvin = {"c": value + 273.15, "f": (value - 32) * 5 / 9 + 273.15, "k": value}[source]
        if kelvin < 0:
            raise ToolError("Temperature below absolute zero.")
        return {"c": kelvin - 273.15, "f": (kelvin - 273.15) * 9 / 5 + 32, "k": kelvin}[target]
    for units in _LINEAR.values():
        if source in units and target in units:
            return value * units[source] / units[target]
    known = sorted({u for units in _LINEAR.values() for u in units} | _TEMPERATURE)
    raise ToolError(f"Cannot convert {from_unit!r} to {to_unit!r}. Known units: {', '.join(known)}.")


@server.tool(title="Unit converter")
async def convert_units(value: float, from_unit: str, to_unit: str) -> str:
    """Convert a value between units of length, mass, volume, time or temperature (e.g. 5 km to mi)."""
    if not math.isfinite(value):
        raise ToolError("The value must be a finite number.")
    result = round(convert(value, from_unit, to_unit), 6)
    return f"{calc.format_number(value)} {from_unit} = {calc.format_number(result)} {to_unit}"
