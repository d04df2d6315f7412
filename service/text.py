"""Client text made inert before it is put into a card.

The CDS Hooks sandbox (and other clients) render card `detail` as Markdown with raw HTML allowed,
and show `summary` as plain text. A drug or condition name comes from the client, so it must not be
able to start a block (a carriage return followed by "# What to consider" became a heading), add a
link or an image, or carry HTML. Two functions, one per place client text lands:

* `inline_markdown(text)`: for `detail`. Every control character and line break (C0, C1, DEL, the
  Unicode line/paragraph separators, tabs) becomes a space (a lone surrogate becomes U+FFFD) and
  runs of spaces collapse, so the text is one inline run that can never open a new block; then
  every Markdown and HTML special character is backslash-escaped.
* `plain_text(text)`: for `summary`. The same neutralising of control characters, then the
  characters that would be markup anywhere (`<>*_`[]#|~\\`) are dropped: the summary carries words,
  never markup from the client.

Pure functions of a string; no clinical content.
"""

from __future__ import annotations

import functools
import re

# C0 controls, DEL, C1 controls, and the Unicode line and paragraph separators (and NEL).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # lone surrogates: not Unicode text at all
_SPACES = re.compile(r"\s{2,}")
# Inline specials only: the run never starts a line (it follows a label), so block markers such as
# "#", "-" or "1." are inert once no line break can precede them.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|~&])")
_MARKUP = re.compile(r"[\\`*_{}\[\]<>|~#]")


def replace_lone_surrogates(text: str) -> str:
    """`text` with each lone surrogate (not Unicode, so not encodable as UTF-8) as U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def one_line(text: str) -> str:
    """`text` with every control character and line break turned into a space, spaces collapsed."""
    return _SPACES.sub(" ", _CONTROL.sub(" ", replace_lone_surrogates(text))).strip()


def inline_markdown(text: str) -> str:
    """Untrusted text as one inert inline Markdown run (no new block, no markup, no HTML)."""
    return _inline_cached(text) if len(text) <= CACHED_MAX_CHARS else _inline(text)


def plain_text(text: str) -> str:
    """Untrusted text for a plain-text field such as `summary`: one line, no markup characters."""
    return _plain_cached(text) if len(text) <= CACHED_MAX_CHARS else _plain(text)


# The same few names (drugs, conditions, labs, value-set titles) are made inert on every call that
# shows a card, three or four regular-expression passes each: short texts are remembered. Bounded
# in count and in length, so hostile input cannot grow the memory; the functions are pure.
CACHED_MAX_CHARS = 200
_CACHE_SIZE = 4096


def _inline(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", one_line(text))


def _plain(text: str) -> str:
    return _SPACES.sub(" ", _MARKUP.sub("", one_line(text))).strip()


_inline_cached = functools.lru_cache(maxsize=_CACHE_SIZE)(_inline)
_plain_cached = functools.lru_cache(maxsize=_CACHE_SIZE)(_plain)
