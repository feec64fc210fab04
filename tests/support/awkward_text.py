"""Texts that line protocol must escape (or refuse): tag values, field strings, names."""

from __future__ import annotations

AWKWARD = [
    "plain",
    "with space",
    "comma,inside",
    "equals=inside",
    "back\\slash",
    "ends with backslash\\",
    "\\",
    "\\\\",
    "quote\"and'apostrophe",
    "tab\tnew\nline\rreturn",
    "ünïcödé — Київ 東京 🚨",
    " leading and trailing ",
    ",=\\ ",
    ',=\\ "',
    "#hash",
    "",
]
