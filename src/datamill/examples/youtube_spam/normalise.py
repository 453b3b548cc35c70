"""Row function for the demo's `map.python` step: clean a comment's text."""

import html
import re

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def clean_comment(row: dict[str, object]) -> dict[str, object]:
    """Unescape HTML entities, drop tags and byte-order marks, collapse whitespace."""
    text = html.unescape(str(row["text"] or ""))
    text = _TAG.sub(" ", text).replace("\ufeff", "")
    return {"text": _SPACE.sub(" ", text).strip(), "label": int(str(row["label"]))}
