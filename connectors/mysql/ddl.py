"""Table definitions and the DDL that changes them.

A :class:`TableDef` is what the connector knows of a table's shape (columns in order, primary key).
It comes from ``SHOW CREATE TABLE`` during the snapshot and from the DDL statements in the binlog's query
events afterwards; both go through :func:`apply_ddl`, a small parser for the statements that change a
table's shape: ``CREATE TABLE`` (also ``LIKE``), ``ALTER TABLE`` (``ADD``/``DROP``/``MODIFY``/``CHANGE``/
``RENAME COLUMN``, ``RENAME TO``, primary key changes), ``RENAME TABLE``, ``DROP TABLE`` and
``DROP DATABASE``. Statements it does not understand are reported as not applied (the caller decides).

Definitions serialise to and from Debezium's ``tableChanges`` JSON (:meth:`TableDef.to_debezium`), the
form kept in the schema history and sent in schema change events.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Final

_TOKEN: Final = re.compile(
    r"""\s*(?:
        (?P<comment>/\*.*?\*/|--[^\n]*|\#[^\n]*)
      | `(?P<bq>(?:[^`]|``)*)`
      | '(?P<sq>(?:[^'\\]|\\.|'')*)'
      | "(?P<dq>(?:[^"\\]|\\.|"")*)"
      | (?P<num>\d+(?:\.\d+)?)
      | (?P<word>[A-Za-z0-9_$@]+)
      | (?P<punct>.)
    )""",
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Tok:
    kind: str  # ident (quoted), str, num, word, punct
    text: str

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


def tokenize(sql: str) -> list[Tok]:
    out: list[Tok] = []
    for m in _TOKEN.finditer(sql):
        if m.group("comment") is not None:
            continue
        if m.group("bq") is not None:
            out.append(Tok("ident", m.group("bq").replace("``", "`")))
        elif m.group("sq") is not None:
            out.append(Tok("str", _unescape(m.group("sq"), "'")))
        elif m.group("dq") is not None:
            out.append(Tok("str", _unescape(m.group("dq"), '"')))
        elif m.group("num") is not None:
            out.append(Tok("num", m.group("num")))
        elif m.group("word") is not None:
            out.append(Tok("word", m.group("word")))
        elif m.group("punct") is not None and not m.group("punct").isspace():
            out.append(Tok("punct", m.group("punct")))
    return out


def _unescape(text: str, quote: str) -> str:
    return re.sub(
        r"\\(.)", lambda m: {"n": "\n", "t": "\t", "0": "\0"}.get(m.group(1), m.group(1)), text
    ).replace(quote * 2, quote)


# Debezium's jdbcType per MySQL type (java.sql.Types), for the tableChanges JSON.
_JDBC: Final = {
    "bit": -7, "tinyint": -6, "smallint": 5, "mediumint": 4, "int": 4, "integer": 4, "bigint": -5,
    "float": 6, "double": 8, "real": 8, "decimal": 3, "numeric": 3, "date": 91, "time": 92,
    "datetime": 93, "timestamp": 2014, "year": 4, "char": 1, "varchar": 12, "binary": -2,
    "varbinary": -3, "tinyblob": -4, "blob": -4, "mediumblob": -4, "longblob": -4, "tinytext": -1,
    "text": -1, "mediumtext": -1, "longtext": -1, "enum": 1, "set": 1, "json": 12, "geometry": 1111,
    "point": 1111, "linestring": 1111, "polygon": 1111, "multipoint": 1111, "multilinestring": 1111,
    "multipolygon": 1111, "geometrycollection": 1111, "bool": 16, "boolean": 16,
}  # fmt: skip
_TYPE_ALIASES: Final = {"integer": "int", "dec": "decimal", "numeric": "decimal", "fixed": "decimal",
                        "real": "double", "int1": "tinyint", "int2": "smallint", "int3": "mediumint",
                        "int4": "int", "int8": "bigint", "middleint": "mediumint", "bool": "tinyint",
                        "boolean": "tinyint", "character": "char", "long": "mediumtext",
                        "geomcollection": "geometrycollection"}  # fmt: skip


@dataclass(frozen=True)
class ColumnDef:
    name: str
    type: str  # the base type, lower case (int, decimal, varchar, enum, json, ...)
    length: int | None = None  # (n) of char/varchar/binary/bit/int display, precision of decimal
    scale: int | None = None  # decimal scale; fractional seconds precision of time types
    unsigned: bool = False
    optional: bool = True
    auto_increment: bool = False
    enum_values: tuple[str, ...] = ()
    charset: str | None = None
    type_expression: str = ""

    def to_debezium(self, position: int) -> dict[str, Any]:
        type_name = self.type.upper() + (" UNSIGNED" if self.unsigned else "")
        return {
            "name": self.name,
            "jdbcType": _JDBC.get(self.type, 1111),
            "nativeType": None,
            "typeName": type_name,
            "typeExpression": type_name,
            "charsetName": self.charset,
            "length": self.length,
            "scale": self.scale,
            "position": position,
            "optional": self.optional,
            "autoIncremented": self.auto_increment,
            "generated": self.auto_increment,
            "comment": None,
            "hasDefaultValue": self.optional,
            "enumValues": list(self.enum_values),
        }

    @staticmethod
    def from_debezium(d: dict[str, Any]) -> ColumnDef:
        type_name = str(d["typeName"]).lower()
        unsigned = type_name.endswith(" unsigned")
        base = type_name.removesuffix(" unsigned").split()[0]
        return ColumnDef(
            name=d["name"],
            type=base,
            length=d.get("length"),
            scale=d.get("scale"),
            unsigned=unsigned,
            optional=bool(d.get("optional", True)),
            auto_increment=bool(d.get("autoIncremented", False)),
            enum_values=tuple(d.get("enumValues") or ()),
            charset=d.get("charsetName"),
        )


@dataclass(frozen=True)
class TableDef:
    db: str
    name: str
    columns: tuple[ColumnDef, ...]
    primary_key: tuple[str, ...] = ()
    charset: str | None = None

    @property
    def qualified(self) -> str:
        return f"{self.db}.{self.name}"

    @property
    def debezium_id(self) -> str:
        return f'"{self.db}"."{self.name}"'

    def column(self, name: str) -> ColumnDef | None:
        low = name.lower()
        return next((c for c in self.columns if c.name.lower() == low), None)

    def to_debezium(self) -> dict[str, Any]:
        return {
            "defaultCharsetName": self.charset,
            "primaryKeyColumnNames": list(self.primary_key),
            "columns": [c.to_debezium(i + 1) for i, c in enumerate(self.columns)],
            "attributes": [],
        }

    @staticmethod
    def from_debezium(table_id: str, d: dict[str, Any]) -> TableDef:
        db, name = (p.strip('"') for p in table_id.split(".", 1))
        return TableDef(
            db,
            name,
            tuple(ColumnDef.from_debezium(c) for c in d["columns"]),
            tuple(d.get("primaryKeyColumnNames") or ()),
            d.get("defaultCharsetName"),
        )


@dataclass
class TableChange:
    """One table a statement changed: Debezium's tableChanges entry (``type`` CREATE, ALTER or DROP)."""

    type: str
    table: TableDef
    previous_id: str | None = None  # a rename: the old "db"."table"

    def to_debezium(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "id": self.table.debezium_id}
        if self.previous_id is not None:
            out["previousId"] = self.previous_id
        out["table"] = self.table.to_debezium() if self.type != "DROP" else None
        out["comment"] = None
        return out


@dataclass
class DdlResult:
    applied: bool  # understood (changes may be empty: e.g. CREATE INDEX)
    changes: list[TableChange] = field(default_factory=list)
    dropped_databases: list[str] = field(default_factory=list)
    databases: set[str] = field(default_factory=set)  # databases the statement touches


class DdlError(ValueError):
    pass


class _Cursor:
    def __init__(self, tokens: list[Tok]) -> None:
        self.t = tokens
        self.i = 0

    def peek(self, ahead: int = 0) -> Tok | None:
        j = self.i + ahead
        return self.t[j] if j < len(self.t) else None

    def at(self, *words: str) -> bool:
        for k, w in enumerate(words):
            tok = self.peek(k)
            if tok is None or (tok.upper != w and not (tok.kind == "punct" and tok.text == w)):
                return False
        return True

    def accept(self, *words: str) -> bool:
        if self.at(*words):
            self.i += len(words)
            return True
        return False

    def expect(self, *words: str) -> None:
        if not self.accept(*words):
            raise DdlError(f"expected {' '.join(words)} at {self.peek()}")

    def next(self) -> Tok:
        tok = self.peek()
        if tok is None:
            raise DdlError("unexpected end of statement")
        self.i += 1
        return tok

    def done(self) -> bool:
        return self.i >= len(self.t) or self.at(";")

    def ident(self) -> str:
        tok = self.next()
        if tok.kind in ("ident", "word", "str", "num"):
            return tok.text
        raise DdlError(f"expected a name at {tok}")

    def qualified(self, default_db: str | None) -> tuple[str, str]:
        first = self.ident()
        if self.accept("."):
            return first, self.ident()
        if default_db is None:
            raise DdlError(f"table {first} without a database and no current database")
        return default_db, first

    def skip_group(self) -> list[Tok]:
        """Skip a parenthesised group (the cursor is at '('); return its tokens."""
        self.expect("(")
        depth, start = 1, self.i
        while depth:
            tok = self.next()
            if tok.kind == "punct" and tok.text == "(":
                depth += 1
            elif tok.kind == "punct" and tok.text == ")":
                depth -= 1
        return self.t[start : self.i - 1]

    def skip_to_comma_or_close(self) -> None:
        depth = 0
        while not self.done():
            tok = self.peek()
            assert tok is not None
            if tok.kind == "punct" and tok.text == "(":
                depth += 1
            elif tok.kind == "punct" and tok.text == ")":
                if depth == 0:
                    return
                depth -= 1
            elif tok.kind == "punct" and tok.text == "," and depth == 0:
                return
            self.i += 1


def _split_args(tokens: list[Tok]) -> list[Tok]:
    return [t for t in tokens if not (t.kind == "punct" and t.text == ",")]


_CONSTRAINT_WORDS: Final = {"PRIMARY", "KEY", "INDEX", "UNIQUE", "CONSTRAINT", "FOREIGN", "FULLTEXT",
                            "SPATIAL", "CHECK", "PERIOD", "SYSTEM"}  # fmt: skip


def _column_def(c: _Cursor, name: str) -> tuple[ColumnDef, bool]:
    """A column definition after its name; returns the column and whether it says PRIMARY KEY."""
    type_tok = c.next()
    base = type_tok.text.lower()
    if base == "double" and c.accept("PRECISION"):
        pass
    if base in ("character", "char", "national", "nchar") and c.accept("VARYING"):
        base = "varchar"
    if base == "national":
        base = c.next().text.lower()
    if base == "long" and c.at("VARCHAR"):
        c.next()
        base = "mediumtext"
    elif base == "long" and c.at("VARBINARY"):
        c.next()
        base = "mediumblob"
    is_bool = base in ("bool", "boolean")
    base = _TYPE_ALIASES.get(base, base)
    if base == "nvarchar":
        base = "varchar"
    length: int | None = 1 if is_bool else None
    scale: int | None = None
    enum_values: tuple[str, ...] = ()
    if c.at("("):
        args = _split_args(c.skip_group())
        if base in ("enum", "set"):
            enum_values = tuple(a.text for a in args)
        elif args:
            length = int(float(args[0].text)) if args[0].kind == "num" else None
            if len(args) > 1 and args[1].kind == "num":
                scale = int(args[1].text)
    if base in ("time", "datetime", "timestamp"):
        scale, length = (length or 0), None
    if base == "decimal":
        length = 10 if length is None else length
        scale = 0 if scale is None else scale
    if base == "bit" and length is None:
        length = 1
    unsigned = False
    optional = True
    primary = False
    auto = False
    charset: str | None = None
    json = base == "json"
    while not c.done():
        tok = c.peek()
        assert tok is not None
        if tok.kind == "punct" and tok.text in (",", ")"):
            break
        if tok.kind == "punct" and tok.text == "(":
            c.skip_group()
            continue
        word = tok.upper
        if word in ("FIRST", "AFTER"):
            break
        c.i += 1
        if word == "UNSIGNED":
            unsigned = True
        elif word in ("SIGNED", "ZEROFILL", "BINARY"):
            pass
        elif word == "NOT" and c.accept("NULL"):
            optional = False
        elif word == "NULL":
            optional = True
        elif word == "AUTO_INCREMENT":
            auto = True
        elif word == "PRIMARY" and c.accept("KEY"):
            primary = True
        elif word == "KEY":
            primary = True  # a bare KEY in a column definition is PRIMARY KEY
        elif word in ("CHARACTER", "CHARSET"):
            c.accept("SET")
            charset = c.ident().lower()
        elif word == "CHECK" and c.at("("):
            body = c.skip_group()
            if any(t.upper == "JSON_VALID" for t in body):
                json = True
        elif word in ("DEFAULT", "COMMENT", "COLLATE", "ON", "UPDATE", "AS", "GENERATED", "ALWAYS",
                      "VIRTUAL", "PERSISTENT", "STORED", "INVISIBLE", "COMPRESSED", "REFERENCES",
                      "COLUMN_FORMAT", "STORAGE", "UNIQUE", "SRID"):  # fmt: skip
            if word in ("DEFAULT", "COMMENT", "COLLATE", "COLUMN_FORMAT", "STORAGE", "SRID") and not c.done():
                if c.at("("):
                    c.skip_group()
                else:
                    c.next()
                    if c.at("("):  # DEFAULT current_timestamp(6), nextval(...)
                        c.skip_group()
            elif word == "REFERENCES":
                c.qualified("_")
                if c.at("("):
                    c.skip_group()
    if json:
        base = "json"
    if primary:
        optional = False
    return (
        ColumnDef(name, base, length, scale, unsigned, optional, auto, enum_values, charset),
        primary,
    )


def _key_columns(c: _Cursor) -> tuple[str, ...]:
    names: list[str] = []
    group = c.skip_group()
    depth = 0
    expect_name = True
    for tok in group:
        if tok.kind == "punct" and tok.text == "(":
            depth += 1
        elif tok.kind == "punct" and tok.text == ")":
            depth -= 1
        elif depth == 0 and tok.kind == "punct" and tok.text == ",":
            expect_name = True
        elif depth == 0 and expect_name:
            names.append(tok.text)
            expect_name = False
    return tuple(names)


def _table_body(c: _Cursor, db: str, name: str) -> TableDef:
    c.expect("(")
    columns: list[ColumnDef] = []
    pk: tuple[str, ...] = ()
    while True:
        tok = c.peek()
        if tok is None:
            raise DdlError("unterminated table definition")
        if tok.upper in _CONSTRAINT_WORDS and tok.kind != "ident":
            named = c.accept("CONSTRAINT") and not any(
                c.at(w) for w in ("PRIMARY", "UNIQUE", "FOREIGN", "CHECK")
            )
            if named:
                c.ident()
            if c.accept("PRIMARY", "KEY"):
                while not c.at("("):
                    c.next()
                pk = _key_columns(c)
            c.skip_to_comma_or_close()
        else:
            col_name = c.ident()
            col, primary = _column_def(c, col_name)
            columns.append(col)
            if primary:
                pk = (col_name,)
        if c.accept(","):
            continue
        c.expect(")")
        break
    charset = _table_charset(c)
    return _with_pk(TableDef(db, name, tuple(columns), (), charset), pk)


def _table_charset(c: _Cursor) -> str | None:
    charset = None
    while not c.done():
        if c.accept("CHARSET") or c.accept("CHARACTER", "SET"):
            c.accept("=")
            charset = c.ident().lower()
        else:
            c.next()
    return charset


def _with_pk(table: TableDef, pk: tuple[str, ...]) -> TableDef:
    names = []
    for key in pk:
        col = table.column(key)
        if col is not None:
            names.append(col.name)
    columns = tuple(replace(col, optional=False) if col.name in names else col for col in table.columns)
    return replace(table, columns=columns, primary_key=tuple(names))


def split_statements(sql: str) -> Iterator[list[Tok]]:
    tokens = tokenize(sql)
    start = 0
    for i, tok in enumerate(tokens):
        if tok.kind == "punct" and tok.text == ";":
            if i > start:
                yield tokens[start:i]
            start = i + 1
    if start < len(tokens):
        yield tokens[start:]


def apply_ddl(tables: dict[tuple[str, str], TableDef], sql: str, default_db: str | None) -> DdlResult:
    """Apply the statement(s) in ``sql`` to ``tables`` (keyed by ``(db, table)``, changed in place)."""
    result = DdlResult(applied=True)
    for tokens in split_statements(sql):
        one = _apply_one(tables, _Cursor(tokens), default_db)
        result.applied = result.applied and one.applied
        result.changes.extend(one.changes)
        result.dropped_databases.extend(one.dropped_databases)
        result.databases |= one.databases
        if tokens and tokens[0].upper == "USE" and len(tokens) > 1:
            default_db = tokens[1].text
    return result


def _apply_one(tables: dict[tuple[str, str], TableDef], c: _Cursor, default_db: str | None) -> DdlResult:
    if c.accept("CREATE"):
        c.accept("OR", "REPLACE")
        c.accept("TEMPORARY")
        if c.accept("TABLE"):
            c.accept("IF", "NOT", "EXISTS")
            db, name = c.qualified(default_db)
            if c.accept("LIKE") or (c.at("(") and c.peek(1) is not None and c.peek(1).upper == "LIKE"):  # type: ignore[union-attr]
                c.accept("(")
                c.accept("LIKE")
                src = tables.get(c.qualified(default_db))
                if src is None:
                    return DdlResult(False, databases={db})
                table = replace(src, db=db, name=name)
            elif c.at("("):
                table = _table_body(c, db, name)
            else:
                return DdlResult(False, databases={db})  # CREATE TABLE ... SELECT without columns
            kind = "ALTER" if (db, name) in tables else "CREATE"
            tables[(db, name)] = table
            return DdlResult(True, [TableChange(kind, table)], databases={db})
        if c.accept("DATABASE") or c.accept("SCHEMA"):
            c.accept("IF", "NOT", "EXISTS")
            return DdlResult(True, databases={c.ident()})
        return DdlResult(True, databases={default_db} if default_db else set())  # CREATE INDEX/VIEW/...
    if c.accept("DROP"):
        c.accept("TEMPORARY")
        if c.accept("TABLE") or c.accept("TABLES"):
            c.accept("IF", "EXISTS")
            changes = []
            dbs: set[str] = set()
            while True:
                key = c.qualified(default_db)
                dbs.add(key[0])
                if key in tables:
                    changes.append(TableChange("DROP", tables.pop(key)))
                if not c.accept(","):
                    break
            return DdlResult(True, changes, databases=dbs)
        if c.accept("DATABASE") or c.accept("SCHEMA"):
            c.accept("IF", "EXISTS")
            db = c.ident()
            changes = [TableChange("DROP", t) for k, t in list(tables.items()) if k[0] == db]
            for k in [k for k in tables if k[0] == db]:
                del tables[k]
            return DdlResult(True, changes, [db], databases={db})
        return DdlResult(True, databases={default_db} if default_db else set())
    if c.accept("RENAME"):
        c.expect("TABLE")
        changes = []
        dbs = set()
        while True:
            old = c.qualified(default_db)
            c.expect("TO")
            new = c.qualified(default_db)
            dbs |= {old[0], new[0]}
            if old in tables:
                table = tables.pop(old)
                renamed = replace(table, db=new[0], name=new[1])
                tables[new] = renamed
                changes.append(TableChange("ALTER", renamed, table.debezium_id))
            if not c.accept(","):
                break
        return DdlResult(True, changes, databases=dbs)
    if c.accept("ALTER"):
        c.accept("ONLINE")
        c.accept("IGNORE")
        if not c.accept("TABLE"):
            return DdlResult(True, databases={default_db} if default_db else set())
        c.accept("IF", "EXISTS")
        key = c.qualified(default_db)
        known = tables.get(key)
        if known is None:
            return DdlResult(True, databases={key[0]})  # a table we do not know: not captured
        new_table, previous = _alter(c, known, default_db)
        del tables[key]
        tables[(new_table.db, new_table.name)] = new_table
        return DdlResult(True, [TableChange("ALTER", new_table, previous)], databases={key[0], new_table.db})
    if c.accept("TRUNCATE") or c.at("INSERT") or c.at("UPDATE") or c.at("DELETE"):
        return DdlResult(True)
    return DdlResult(False)


def _alter(c: _Cursor, table: TableDef, default_db: str | None) -> tuple[TableDef, str | None]:
    columns = list(table.columns)
    pk = list(table.primary_key)
    previous: str | None = None
    db, name = table.db, table.name

    def index(col: str) -> int:
        for i, existing in enumerate(columns):
            if existing.name.lower() == col.lower():
                return i
        raise DdlError(f"column {col} not in {db}.{name}")

    def place(col: ColumnDef, at: int | None) -> None:
        if c.accept("FIRST"):
            columns.insert(0, col)
        elif c.accept("AFTER"):
            columns.insert(index(c.ident()) + 1, col)
        elif at is not None:
            columns.insert(at, col)
        else:
            columns.append(col)

    while not c.done():
        if c.accept("ADD"):
            if c.peek() is not None and c.peek().upper in _CONSTRAINT_WORDS:  # type: ignore[union-attr]
                c.accept("CONSTRAINT") and not c.at("PRIMARY") and not c.at("UNIQUE") and c.ident()
                if c.accept("PRIMARY", "KEY"):
                    while not c.at("("):
                        c.next()
                    pk = list(_key_columns(c))
                c.skip_to_comma_or_close()
            else:
                c.accept("COLUMN")
                c.accept("IF", "NOT", "EXISTS")
                if c.at("("):  # ADD (a int, b int)
                    c.next()
                    while True:
                        col, primary = _column_def(c, c.ident())
                        columns.append(col)
                        if primary:
                            pk = [col.name]
                        if not c.accept(","):
                            break
                    c.expect(")")
                else:
                    col, primary = _column_def(c, c.ident())
                    place(col, None)
                    if primary:
                        pk = [col.name]
        elif c.accept("DROP"):
            if c.accept("PRIMARY", "KEY"):
                pk = []
            elif any(c.at(w) for w in ("INDEX", "KEY", "FOREIGN", "CONSTRAINT", "CHECK")):
                c.skip_to_comma_or_close()
            else:
                c.accept("COLUMN")
                c.accept("IF", "EXISTS")
                col_name = c.ident()
                del columns[index(col_name)]
                pk = [k for k in pk if k.lower() != col_name.lower()]
                c.skip_to_comma_or_close()
        elif c.accept("MODIFY"):
            c.accept("COLUMN")
            c.accept("IF", "EXISTS")
            col_name = c.ident()
            at = index(col_name)
            del columns[at]
            col, primary = _column_def(c, (columns and col_name) or col_name)
            place(col, at)
            if primary:
                pk = [col.name]
        elif c.accept("CHANGE"):
            c.accept("COLUMN")
            c.accept("IF", "EXISTS")
            old = c.ident()
            at = index(old)
            del columns[at]
            col, primary = _column_def(c, c.ident())
            place(col, at)
            pk = [col.name if k.lower() == old.lower() else k for k in pk]
            if primary:
                pk = [col.name]
        elif c.accept("RENAME", "COLUMN"):
            old = c.ident()
            c.expect("TO")
            new = c.ident()
            at = index(old)
            columns[at] = replace(columns[at], name=new)
            pk = [new if k.lower() == old.lower() else k for k in pk]
        elif c.accept("RENAME"):
            if c.accept("INDEX") or c.accept("KEY"):
                c.skip_to_comma_or_close()
            else:
                c.accept("TO") or c.accept("AS")
                previous = table.debezium_id
                db, name = c.qualified(default_db or table.db)
        else:
            c.skip_to_comma_or_close()  # ALGORITHM=, LOCK=, ENGINE=, ALTER COLUMN SET DEFAULT, indexes ...
        if not c.accept(",") and not c.done():
            c.next()
    new_table = TableDef(db, name, tuple(columns), (), table.charset)
    return _with_pk(new_table, tuple(pk)), previous
