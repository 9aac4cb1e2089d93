"""What `rec check` finds and how it is asked: ``Finding``, ``CheckOptions``, ``CheckReport``."""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass, field
from typing import Any

from rec.redaction import Rules


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a cassette: which rule family, where, what, and what to do about it."""

    cassette: str
    exchange: int | None  # as `rec show` numbers it; None for the cassette as a whole
    rule: str
    message: str
    fix: str
    fails: bool = True  # False: reported as a warning, the check still passes

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CheckOptions:
    """How to check: the project's max_age and on_expiry, and its redaction rules (`rec record --redact`)."""

    max_age: datetime.timedelta | None = None
    on_expiry: str = "warn"
    redact: Rules = field(default_factory=Rules)


@dataclass
class CheckReport:
    """The findings over some cassettes, and what each cassette weighs on disk."""

    findings: list[Finding] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)  # cassette -> bytes on disk

    @property
    def failed(self) -> bool:
        return any(finding.fails for finding in self.findings)

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.values())
