"""Two JSON values side by side: their indented lines aligned, changed lines paired, long equal runs folded."""

from __future__ import annotations

import difflib
import json
from itertools import zip_longest
from typing import Any

# Equal lines kept around each change; longer equal runs fold into one "N unchanged lines" row.
CONTEXT_LINES = 3


def json_lines(value: Any) -> list[str]:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def side_by_side(before: Any, after: Any, left: str, right: str) -> dict[str, Any]:
    """Rows ``[left_no, left_text, right_no, right_text, op]`` (op: equal, replace, delete, insert) and
    ``{"fold": N}`` for N equal lines left out; ``left`` and ``right`` name the two sides."""
    a, b = json_lines(before), json_lines(after)
    rows: list[Any] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            head = CONTEXT_LINES if i1 > 0 else 0
            tail = CONTEXT_LINES if i2 < len(a) else 0
            kept = range(i2 - i1) if i2 - i1 <= head + tail + 1 else [*range(head), None, *range(i2 - i1 - tail,
                                                                                                i2 - i1)]
            for offset in kept:
                if offset is None:
                    rows.append({"fold": i2 - i1 - head - tail})
                else:
                    rows.append([i1 + offset + 1, a[i1 + offset], j1 + offset + 1, b[j1 + offset], "equal"])
            continue
        for i, j in zip_longest(range(i1, i2), range(j1, j2)):
            kind = "replace" if i is not None and j is not None else "delete" if i is not None else "insert"
            rows.append([None if i is None else i + 1, None if i is None else a[i],
                         None if j is None else j + 1, None if j is None else b[j], kind])
    return {"left": left, "right": right, "rows": rows}
