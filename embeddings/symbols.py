"""The names a chunk defines (functions, classes, types, constants), read with patterns that hold
across most languages. Stored per chunk at ingest, so that search finds the definition of an
identifier with one index lookup instead of scanning every chunk that mentions it."""

import re

MAX_SYMBOLS = 50
_KEYWORD = r"(?:def|class|function|func|fn|interface|type|struct|enum|trait|impl|module|const|let|var|val|macro|record|object)"
# Each pattern starts at a newline, and the text is searched with one put before it: the same
# matches as a ^ in MULTILINE mode (a match ends in a name or "=", never in a newline), but the
# regex engine jumps from newline to newline instead of trying every character.
_DEFINITION = re.compile(
    rf"\n[ \t]*(?:(?:export|default|public|private|protected|internal|static|async|abstract|final|pub(?:\([a-z]+\))?|unsafe|inline|open|override)\s+)*"
    rf"{_KEYWORD}\*?\s+(?:\([^)]*\)\s*)?([A-Za-z_$][A-Za-z0-9_$]*)",
)
# UPPER_CASE = ... (module constants in most languages).
_CONSTANT = re.compile(r"\n[ \t]*([A-Z][A-Z0-9_]{2,})\s*(?::[^=\n]*)?=(?!=)")


def defined_names(text: str) -> list[str]:
    text = "\n" + text
    names = _DEFINITION.findall(text)
    names += _CONSTANT.findall(text)
    return list(dict.fromkeys(name[:200] for name in names))[:MAX_SYMBOLS]
