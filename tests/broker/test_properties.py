"""kafka_common.properties.parse_properties follows java.util.Properties.load (the broker's server.properties
and the worker's .properties files share it)."""

from __future__ import annotations

import pytest

from kafka_common.properties import PropertiesError, parse_properties


def test_separators_comments_and_whitespace() -> None:
    text = "# comment\n! also\n\na=1\nb : 2\nc 3\n  d=  4\ne\n"
    assert parse_properties(text) == {"a": "1", "b": "2", "c": "3", "d": "4", "e": ""}


def test_escapes_as_java() -> None:
    text = r"regex=shop\\.public\\..*" + "\n" + r"path=C:\\data\\x" + "\n" + r"tab=a\tb" + "\n"
    text += r"k\=ey=v" + "\n" + r"u=\u00e9t\u00E9" + "\n" + r"other=\q" + "\n"
    assert parse_properties(text) == {
        "regex": r"shop\.public\..*",
        "path": r"C:\data\x",
        "tab": "a\tb",
        "k=ey": "v",
        "u": "été",
        "other": "q",
    }


def test_continuation_lines() -> None:
    text = "list=a,\\\n    b,\\\n    c\nnext=1\n" + "even=x\\\\\n" + "after=2\n"
    assert parse_properties(text) == {"list": "a,b,c", "next": "1", "even": "x\\", "after": "2"}


def test_bad_unicode_escape_is_an_error() -> None:
    with pytest.raises(PropertiesError, match="uxxxx"):
        parse_properties("a=\\u12G4\n")
    with pytest.raises(PropertiesError):
        parse_properties("a=\\u12\n")
