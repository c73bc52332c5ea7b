"""The ``--json`` contract: core records turned into plain JSON values.

Every record is a dataclass from the core; its fields are the JSON object's keys (see
docs/cli.md). Datetimes are ISO 8601 with a UTC offset, enums their value, tuples lists.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import Enum
from pathlib import PurePath
from typing import Any


def to_jsonable(obj: Any) -> Any:
    """A JSON-ready value for a core record, recursively."""
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, timedelta):
        return obj.total_seconds()
    if isinstance(obj, PurePath):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    return str(obj)


def dumps(obj: Any) -> str:
    """Serialise for stdout: UTF-8 text as is (CJK names stay readable), stable key order."""
    return json.dumps(to_jsonable(obj), ensure_ascii=False, indent=2)
