"""The package's ``.sql`` files: one reader for every stage that keeps its SQL in a ``sql/`` folder.

A line ``-- include: other.sql`` is replaced by that file of the same folder, without its comment
lines (the page loaders share their money/count lambdas this way).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_INCLUDE = re.compile(r"^-- include: (\S+)$", re.M)


@cache
def read_sql(package: str, name: str) -> str:
    """The statement in ``<package>/sql/<name>``, with its includes expanded.

    Args:
        package: a package of this project, e.g. ``klaviyo_analytics.sync``.
        name: the file name, e.g. ``orders_from_pages.sql``.
    """
    root = resources.files(package).joinpath("sql")
    text = root.joinpath(name).read_text()
    return _INCLUDE.sub(lambda m: _strip_comments(root.joinpath(m.group(1)).read_text()), text)


def _strip_comments(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
