"""The FINAL query layer: every read of the 12 tables goes through :func:`apply_final`.

ReplacingMergeTree keeps duplicate versions until a background merge, so a read without
``FINAL`` can double-count. :func:`apply_final` rewrites a statement so every reference to one of
the 12 tables after ``FROM`` or ``JOIN`` (an alias allowed) carries ``FINAL``, joins on both sides
included; :class:`~klaviyo_analytics.warehouse.client.Warehouse` calls it for every statement and
also sets ClickHouse's ``final = 1`` so sub-queries and views are covered too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from klaviyo_analytics.warehouse.tables import TABLE_NAMES

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>--[^\n]*|/\*.*?\*/)
  | (?P<string>'(?:[^'\\]|\\.|'')*')
  | (?P<quoted>`[^`]*`|"[^"]*")
  | (?P<param>\{[^{}]*\})
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

# Words that end a table reference: after one of these, no alias follows.
_CLAUSE_WORDS = frozenset(
    {
        "WHERE",
        "PREWHERE",
        "GROUP",
        "ORDER",
        "LIMIT",
        "HAVING",
        "JOIN",
        "INNER",
        "LEFT",
        "RIGHT",
        "FULL",
        "CROSS",
        "OUTER",
        "ANY",
        "ALL",
        "ASOF",
        "SEMI",
        "ANTI",
        "ARRAY",
        "ON",
        "USING",
        "UNION",
        "EXCEPT",
        "INTERSECT",
        "SETTINGS",
        "FORMAT",
        "SAMPLE",
        "FINAL",
        "WINDOW",
        "QUALIFY",
        "GLOBAL",
        "OFFSET",
        "INTO",
        "SELECT",
        "WITH",
        "AS",
        "PASTE",
    }
)


@dataclass(frozen=True)
class Token:
    """One lexical token of a SQL statement."""

    kind: str
    text: str

    @property
    def upper(self) -> str:
        """The token text in upper case (for keyword checks)."""
        return self.text.upper()


def iter_tokens(sql: str) -> Iterator[Token]:
    """The tokens of ``sql`` one at a time, keeping strings, comments and quoted names intact."""
    return (Token(m.lastgroup or "other", m.group()) for m in _TOKEN.finditer(sql))


def tokenize(sql: str) -> list[Token]:
    """Split ``sql`` into tokens, keeping strings, comments and quoted names intact."""
    return list(iter_tokens(sql))


def _unquote(text: str) -> str:
    return text[1:-1] if text[:1] in '`"' else text


def _significant(tokens: list[Token], start: int) -> int:
    """Index of the next token at or after ``start`` that is not whitespace or a comment."""
    i = start
    while i < len(tokens) and tokens[i].kind in ("ws", "comment"):
        i += 1
    return i


def table_references(sql: str) -> list[tuple[str, bool]]:
    """The 12-table references in ``sql`` after FROM/JOIN, each with whether FINAL follows.

    Args:
        sql: one ClickHouse statement.

    Returns:
        ``(table_name, has_final)`` per reference, in order.
    """
    return [(name, has_final) for name, has_final, _ in _scan(tokenize(sql))]


def _previous_word(tokens: list[Token], index: int) -> str:
    """The upper-cased significant token before ``index`` ('' if none)."""
    i = index - 1
    while i >= 0 and tokens[i].kind in ("ws", "comment"):
        i -= 1
    return tokens[i].upper if i >= 0 else ""


def _scan(tokens: list[Token]) -> list[tuple[str, bool, int]]:
    """Find table references: (table, has FINAL, index after which FINAL must go).

    The target of a lightweight ``DELETE FROM t`` is a write, not a read, and is skipped
    (``DELETE FROM t FINAL`` is invalid); reads in its ``WHERE`` are still found.
    """
    found: list[tuple[str, bool, int]] = []
    for i, tok in enumerate(tokens):
        if tok.kind != "word" or tok.upper not in ("FROM", "JOIN"):
            continue
        if tok.upper == "FROM" and _previous_word(tokens, i) == "DELETE":
            continue
        j = _significant(tokens, i + 1)
        if j >= len(tokens) or tokens[j].kind not in ("word", "quoted"):
            continue
        name = _unquote(tokens[j].text)
        end = j
        k = _significant(tokens, j + 1)
        # database.table
        if k < len(tokens) and tokens[k].text == ".":
            m = _significant(tokens, k + 1)
            if m < len(tokens) and tokens[m].kind in ("word", "quoted"):
                name = _unquote(tokens[m].text)
                end = m
                k = _significant(tokens, m + 1)
        if name not in TABLE_NAMES:
            continue
        # optional alias: AS x, or a bare identifier that is not a clause keyword
        if k < len(tokens) and tokens[k].kind == "word" and tokens[k].upper == "AS":
            a = _significant(tokens, k + 1)
            if a < len(tokens) and tokens[a].kind in ("word", "quoted"):
                end = a
                k = _significant(tokens, a + 1)
        elif (
            k < len(tokens)
            and tokens[k].kind in ("word", "quoted")
            and tokens[k].upper not in _CLAUSE_WORDS
        ):
            end = k
            k = _significant(tokens, k + 1)
        has_final = k < len(tokens) and tokens[k].kind == "word" and tokens[k].upper == "FINAL"
        found.append((name, has_final, end))
    return found


@lru_cache(maxsize=512)
def apply_final(sql: str) -> str:
    """Return ``sql`` with ``FINAL`` after every reference to one of the 12 tables.

    References that already carry FINAL are left alone; strings and comments are never touched.
    Cached per statement text, like :func:`keywords`: tokenizing costs ~1 ms per 4 KB (the
    aggregate jobs' statements are 4-7 KB, and the sync sends its statements once per batch).
    """
    tokens = tokenize(sql)
    missing = {end for _, has_final, end in _scan(tokens) if not has_final}
    if not missing:
        return sql
    out: list[str] = []
    for i, tok in enumerate(tokens):
        out.append(tok.text)
        if i in missing:
            out.append(" FINAL")
    return "".join(out)


def statement_kind(sql: str) -> str:
    """The first keyword of ``sql`` in upper case, skipping comments and parentheses (reads
    tokens only up to it, not the whole statement)."""
    for tok in iter_tokens(sql):
        if tok.kind == "word":
            return tok.upper
        if tok.kind in ("ws", "comment") or tok.text == "(":
            continue
        return tok.text
    return ""


@lru_cache(maxsize=512)
def keywords(sql: str) -> frozenset[str]:
    """The words of ``sql`` in upper case, outside strings, comments and quoted names (cached:
    the package sends the same statement texts again and again, with parameters bound apart)."""
    return frozenset(tok.upper for tok in tokenize(sql) if tok.kind == "word")


def count_statements(sql: str) -> int:
    """Number of statements in ``sql`` (a trailing semicolon does not count)."""
    parts = 1
    tokens = [t for t in tokenize(sql) if t.kind not in ("ws", "comment")]
    for idx, tok in enumerate(tokens):
        if tok.text == ";" and idx != len(tokens) - 1:
            parts += 1
    return parts if tokens else 0
