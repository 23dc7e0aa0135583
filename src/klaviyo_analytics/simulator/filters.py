"""Parser and validator of Klaviyo's ``filter=`` expressions.

Syntax: ``op(field,value)`` terms joined by top-level commas or wrapped in ``and(...)``. Strings
are quoted, datetimes bare ISO-8601 (a quoted datetime is invalid, as on Klaviyo), lists in
brackets. What each endpoint allows comes from the spec's ``x-klaviyo-filters``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from klaviyo_analytics.simulator.errors import ApiError

Value = str | float | bool | datetime | None | list[Any]


@dataclass(frozen=True)
class Term:
    """One ``op(field[,value])`` term.

    Attributes:
        op: operator name.
        field: field name.
        value: parsed value (``None`` for ``has``).
        is_list: whether the value was a list.
    """

    op: str
    field: str
    value: Value
    is_list: bool


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def fail(self, why: str) -> ApiError:
        return ApiError.invalid(f"Invalid filter provided: {why}", parameter="filter")

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def skip_ws(self) -> None:
        while self.peek() == " ":
            self.i += 1

    def ident(self) -> str:
        start = self.i
        while self.peek() and (self.peek().isalnum() or self.peek() in "_-.$"):
            self.i += 1
        if start == self.i:
            raise self.fail(f"expected a name at position {start}")
        return self.text[start : self.i]

    def expect(self, ch: str) -> None:
        self.skip_ws()
        if self.peek() != ch:
            raise self.fail(f"expected {ch!r} at position {self.i}")
        self.i += 1

    def terms(self) -> list[Term]:
        out = self.term_list()
        self.skip_ws()
        if self.i != len(self.text):
            raise self.fail(f"unexpected text at position {self.i}")
        return out

    def term_list(self) -> list[Term]:
        out = self.term()
        self.skip_ws()
        while self.peek() == ",":
            self.i += 1
            self.skip_ws()
            out.extend(self.term())
            self.skip_ws()
        return out

    def term(self) -> list[Term]:
        self.skip_ws()
        op = self.ident()
        self.expect("(")
        if op == "and":
            inner = self.term_list()
            self.expect(")")
            return inner
        if op in ("or", "not"):
            raise self.fail(f"operator {op!r} is not supported here")
        self.skip_ws()
        field = self.ident()
        self.skip_ws()
        if self.peek() == ")":
            self.i += 1
            return [Term(op, field, None, False)]
        self.expect(",")
        self.skip_ws()
        if self.peek() == "[":
            self.i += 1
            items: list[Any] = []
            self.skip_ws()
            while self.peek() != "]":
                items.append(self.scalar())
                self.skip_ws()
                if self.peek() == ",":
                    self.i += 1
                    self.skip_ws()
                elif self.peek() != "]":
                    raise self.fail(f"expected ',' or ']' at position {self.i}")
            self.i += 1
            self.expect(")")
            return [Term(op, field, items, True)]
        value = self.scalar()
        self.expect(")")
        return [Term(op, field, value, False)]

    def scalar(self) -> Any:
        ch = self.peek()
        if ch in ("'", '"'):
            end = self.text.find(ch, self.i + 1)
            if end < 0:
                raise self.fail("unterminated string")
            value = self.text[self.i + 1 : end]
            self.i = end + 1
            return _Quoted(value)
        start = self.i
        while self.peek() and self.peek() not in ",)]":
            self.i += 1
        raw = self.text[start : self.i].strip()
        if raw in ("true", "false"):
            return raw == "true"
        if raw == "null":
            return None
        try:
            return float(raw) if any(c in raw for c in ".eE") else int(raw)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise self.fail(f"cannot read value {raw!r}") from None


class _Quoted(str):
    """A string value that was written in quotes."""


def parse_filter(text: str) -> list[Term]:
    """Parse a filter expression into its ANDed terms.

    Raises:
        ApiError: 400 when the expression does not parse.
    """
    return _Parser(text).terms()


def validate_terms(terms: list[Term], allowed: dict[str, Any]) -> list[Term]:
    """Check terms against an operation's ``x-klaviyo-filters`` and coerce their values.

    Args:
        terms: parsed terms.
        allowed: the spec's ``x-klaviyo-filters`` object of the operation.

    Returns:
        The terms with datetimes, numbers and booleans typed.

    Raises:
        ApiError: 400 naming the offending field, operator or value.
    """
    out = []
    for t in terms:
        spec = allowed.get(t.field)
        if spec is None:
            raise ApiError.invalid(
                f"'{t.field}' is not a valid field for the resource", parameter="filter"
            )
        ops = spec.get("operators", {})
        kind = "none" if t.value is None and not t.is_list else ("list" if t.is_list else "single")
        if t.op not in ops.get(kind, []):
            raise ApiError.invalid(
                f"'{t.op}' is not a valid operator for '{t.field}'", parameter="filter"
            )
        vspec = spec.get("value", {})
        values = t.value if isinstance(t.value, list) else [t.value]
        typed = [] if kind != "none" else [None]
        for v in values if kind != "none" else []:
            typed.append(_coerce(t.field, v, vspec))
        value: Value = typed if t.is_list else typed[0]
        out.append(Term(t.op, t.field, value, t.is_list))
    return out


def _coerce(field: str, v: Any, vspec: dict[str, Any]) -> Any:
    vtype = vspec.get("type")
    fmt = vspec.get("format")
    bad = ApiError.invalid(f"Invalid value for filter field '{field}'", parameter="filter")
    if fmt == "date-time":
        if not isinstance(v, datetime) or v.tzinfo is None:
            raise bad
        return v
    if vtype == "string":
        if not isinstance(v, _Quoted):
            raise bad
        if "enum" in vspec and str(v) not in vspec["enum"]:
            raise ApiError.invalid(
                f"'{v}' is not a valid value for '{field}'; allowed: {', '.join(vspec['enum'])}",
                parameter="filter",
            )
        return str(v)
    if vtype in ("number", "integer"):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise bad
        return v
    if vtype == "boolean":
        if not isinstance(v, bool):
            raise bad
        return v
    return str(v) if isinstance(v, _Quoted) else v
