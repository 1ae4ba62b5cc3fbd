"""A walk over a regular expression's syntax, for the few questions that need no parser.

``group_depths`` yields each character that is regex syntax at some group depth: not escaped
(``\\(`` is a literal) and not inside a character class (``[(|]`` is a set of literals). Callers
ask about the top level with it: where the first group closes (``engine._leading_lookbehind``),
whether a ``|`` splits the whole pattern (``phone._starts_with_literal_zero``).

It reads the syntax shared by ``re``, ``regex`` and libphonenumber's patterns; it does not know
``regex``'s nested sets (V1 flag) or inline comments, which no caller's patterns use.
"""

from __future__ import annotations

from collections.abc import Iterator


def group_depths(pattern: str) -> Iterator[tuple[int, str, int]]:
    """Yield ``(index, char, depth)`` for each character of ``pattern`` outside escapes and classes.

    ``depth`` is the group nesting depth after the character: "(" raises it by one, ")" lowers
    it by one, so the ")" that closes a top-level group has depth 0 and the last depth yielded
    is the pattern's final depth (0 when the parentheses balance). A class's brackets are not
    yielded; a "]" right after "[" or "[^" is a literal member, as in Python's ``re``.
    """
    depth, i, in_class = 0, 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "^":
                i += 1
            if pattern[i + 1 : i + 2] == "]":
                i += 1  # a leading "]" is a literal inside a class
        else:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            yield i, ch, depth
        i += 1
