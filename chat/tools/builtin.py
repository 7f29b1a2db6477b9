"""The built-in MCP tool server: safe tools that need no network and no keys."""

from __future__ import annotations

import ast
import math
import operator
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

# The tools are async on purpose: the SDK runs sync tools on anyio worker threads, which are not
# daemons and outlive daphne's loop, so the process would hang on SIGTERM.
server = MCPServer("builtin", instructions="Calculator, clock and unit conversion. Offline and side-effect free.")

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS = {"sqrt": math.sqrt, "abs": abs, "round": round}
_CONSTANTS = {"pi": math.pi, "e": math.e}
MAX_EXPRESSION_CHARS = 200
MAX_EXPONENT = 1000


def evaluate(expression: str) -> float | int:
    """Evaluate arithmetic by walking its syntax tree; anything but numbers and operators is refused."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"Expression is longer than {MAX_EXPRESSION_CHARS} characters.")
    try:
        tree = ast.parse(expression.replace("^", "**").replace("×", "*").replace("÷", "/"), mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"Not an arithmetic expression: {expression!r}") from exc
    return _eval(tree.body)


def _eval(node: ast.AST) -> float | int:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ToolError(f"Exponent {right} is too large (limit {MAX_EXPONENT}).")
        try:
            return _BINARY[type(node.op)](left, right)
        except ZeroDivisionError as exc:
            raise ToolError("Division by zero.") from exc
        except OverflowError as exc:
            raise ToolError("The result is too large.") from exc
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        try:
            return _FUNCTIONS[node.func.id](*[_eval(arg) for arg in node.args])
        except (TypeError, ValueError) as exc:
            raise ToolError(f"{node.func.id}: {exc}") from exc
    raise ToolError(f"Unsupported element in expression: {ast.dump(node)[:60]}")


def _format_number(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


@server.tool()
async def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression such as "12*7" or "(2+3)^2 / sqrt(16)".

    Supports + - * / // % ** (or ^), parentheses, sqrt, abs, round, pi and e.
    """
    return _format_number(evaluate(expression))


@server.tool()
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


@server.tool()
async def convert_units(value: float, from_unit: str, to_unit: str) -> str:
    """Convert a value between units of length, mass, volume, time or temperature (e.g. 5 km to mi)."""
    if not math.isfinite(value):
        raise ToolError("The value must be a finite number.")
    result = round(convert(value, from_unit, to_unit), 6)
    return f"{_format_number(value)} {from_unit} = {_format_number(result)} {to_unit}"
