"""Arithmetic by walking a syntax tree, with every intermediate result bounded in size.

Pure Python with no Django or MCP imports, so a worker process can load it cheaply
(chat/offloop.py runs it there). Errors are CalcError; the MCP tool turns them into tool errors.
"""

from __future__ import annotations

import ast
import math
import operator

MAX_EXPRESSION_CHARS = 200
MAX_EXPONENT = 1000
MAX_RESULT_DIGITS = 1000
MAX_ROUND_DIGITS = 100
# An int of this many bits has at most MAX_RESULT_DIGITS decimal digits.
_MAX_BITS = int(MAX_RESULT_DIGITS * math.log2(10))

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
_CONSTANTS = {"pi": math.pi, "e": math.e}


class CalcError(ValueError):
    """The expression is refused or cannot be evaluated; the message is meant for the person."""


def _round(value: float | int, digits: int = 0) -> float | int:
    if not isinstance(digits, int) or abs(digits) > MAX_ROUND_DIGITS:
        raise CalcError(f"round: the number of digits must be a whole number within ±{MAX_ROUND_DIGITS}.")
    return round(value, digits) if digits else round(value)


_FUNCTIONS = {"sqrt": math.sqrt, "abs": abs, "round": _round}


def evaluate(expression: str) -> float | int:
    """Evaluate arithmetic; anything but numbers and operators, or a result too large, is refused."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalcError(f"Expression is longer than {MAX_EXPRESSION_CHARS} characters.")
    try:
        tree = ast.parse(expression.replace("^", "**").replace("×", "*").replace("÷", "/"), mode="eval")
    except (SyntaxError, ValueError):
        raise CalcError(f"Not an arithmetic expression: {expression!r}") from None
    return _eval(tree.body)


def _too_large() -> CalcError:
    return CalcError(f"The result would have more than {MAX_RESULT_DIGITS} digits.")


def _check_operands(op: ast.operator, left: float | int, right: float | int) -> None:
    """Refuse, before computing, an integer operation whose result could exceed the digit bound."""
    if isinstance(op, ast.Pow):
        if abs(right) > MAX_EXPONENT:
            raise CalcError(f"Exponent {right} is too large (limit {MAX_EXPONENT}).")
        if isinstance(left, int) and isinstance(right, int) and right > 0:
            if max(abs(left).bit_length() - 1, 0) * right > _MAX_BITS:
                raise _too_large()
    elif isinstance(op, ast.Mult) and isinstance(left, int) and isinstance(right, int):
        if abs(left).bit_length() + abs(right).bit_length() > _MAX_BITS + 1:
            raise _too_large()


def _bounded(value: float | int) -> float | int:
    if isinstance(value, complex):
        raise CalcError("The result is not a real number.")
    if isinstance(value, int) and value.bit_length() > _MAX_BITS:
        raise _too_large()
    return value


def _eval(node: ast.AST) -> float | int:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _bounded(node.value)
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        _check_operands(node.op, left, right)
        try:
            return _bounded(_BINARY[type(node.op)](left, right))
        except ZeroDivisionError:
            raise CalcError("Division by zero.") from None
        except OverflowError:
            raise CalcError("The result is too large.") from None
        except TypeError as exc:  # e.g. a complex result from a negative number to a fractional power
            raise CalcError(f"Cannot compute that: {exc}") from None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        args = [_eval(arg) for arg in node.args]
        try:
            return _bounded(_FUNCTIONS[node.func.id](*args))
        except CalcError:
            raise
        except (TypeError, ValueError, OverflowError) as exc:
            raise CalcError(f"{node.func.id}: {exc}") from None
    raise CalcError(f"Unsupported element in expression: {ast.dump(node)[:60]}")


def format_number(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def calculate(expression: str) -> str:
    """The formatted result, or CalcError; the function a worker process runs."""
    return format_number(evaluate(expression))
