"""The server's write dialect: which conditions it honours and how it spells an ETag.

Learned by the store (``ObjectStore.write_support``, a probe), remembered per endpoint
and bucket in the state dir (``adapters.dialects``), and read by the executor as a
value. What a run learns from a refusal (RGW 16 wants the ETag unquoted, a versioned
RGW bucket refuses every If-Match) is a new value, which the engine remembers, so the
next run starts from it instead of meeting the same refusals again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Dialect:
    conditional_writes: bool  # PUT with If-Match / If-None-Match is refused when it does not hold
    conditional_delete: bool  # DELETE with If-Match likewise
    versioning: bool  # the bucket keeps the versions a write or delete supersedes
    quote_etag: bool = True  # If-Match carries the ETag in quotes (RFC 7232)

    def as_dict(self) -> dict[str, bool]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Dialect | None:
        """The dialect written by ``as_dict``; None for anything else (an older or damaged record)."""
        values = {f.name: data.get(f.name, f.default) for f in fields(cls)}
        if not all(isinstance(v, bool) for v in values.values()):
            return None
        return cls(**values)

    def unquoted(self) -> Dialect:
        return replace(self, quote_etag=False)

    def without_conditional_writes(self, versioning: bool) -> Dialect:
        """Writes go on unconditionally; where the bucket keeps versions, they show a race."""
        return replace(self, conditional_writes=False, versioning=versioning)

    def without_conditional_delete(self) -> Dialect:
        return replace(self, conditional_delete=False)


# Before any probe (a plan with no remote write): send the write conditions and learn
# at the first refusal; a delete goes unconditionally, as on most servers.
UNPROBED = Dialect(conditional_writes=True, conditional_delete=False, versioning=False)
