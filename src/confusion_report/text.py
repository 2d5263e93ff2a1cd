"""Small text helpers shared by analyses and renderers."""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def slugify(text: str, *, max_len: int = 60) -> str:
    """A URL-fragment-safe slug: lower case, word characters kept (unicode letters too), dashes between."""
    norm = unicodedata.normalize("NFKC", text).lower()
    slug = _NON_WORD.sub("-", norm).strip("-_")
    return slug[:max_len].strip("-") or "x"


def unique_slugs(texts: list[str], *, prefix: str) -> list[str]:
    """Slugs with ``prefix``, made unique by a numeric suffix where two texts slug alike."""
    seen: dict[str, int] = {}
    out = []
    for t in texts:
        base = f"{prefix}-{slugify(t)}"
        n = seen.get(base, 0) + 1
        seen[base] = n
        out.append(base if n == 1 else f"{base}-{n}")
    return out
