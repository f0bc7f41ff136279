"""Java/Jackson text forms of numbers and strings; cross-checked against a real JDK + Jackson when present."""

from __future__ import annotations

import base64
import glob
import os
import random
import re
import shutil
import struct
import subprocess
from pathlib import Path

import orjson
import pytest

from connect.converters._javafmt import f32, jacksonize, java_double, java_float, json_string


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (1.0, "1.0"),
        (0.001, "0.001"),
        (0.0001, "1.0E-4"),
        (1234567.0, "1234567.0"),
        (1e7, "1.0E7"),
        (1.7976931348623157e308, "1.7976931348623157E308"),
        (5e-324, "4.9E-324"),  # JDK 19+: the closer two-digit decimal
        (2e23, "2.0E23"),
        (float("nan"), "NaN"),
        (float("-inf"), "-Infinity"),
    ],
)
def test_java_double(value: float, text: str) -> None:
    assert java_double(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.1, "0.1"),
        (16777216.0, "1.6777216E7"),
        (1.4e-45, "1.4E-45"),
        (3.4028234663852886e38, "3.4028235E38"),
        (1e39, "Infinity"),
        (-1.5, "-1.5"),
    ],
)
def test_java_float(value: float, text: str) -> None:
    assert java_float(value) == text


def test_f32_rounds_to_binary32() -> None:
    assert f32(0.1) == 0.10000000149011612
    assert f32(1e39) == float("inf")


def test_json_string_escapes_like_jackson() -> None:
    assert json_string('a"\\\b\t\n\f\r\x00\x1f\x7fé') == '"a\\"\\\\\\b\\t\\n\\f\\r\\u0000\\u001F\x7fé"'
    assert json_string("😀") == '"\\uD83D\\uDE00"'


def test_jacksonize_fixes_orjson_output() -> None:
    text = "a\x0b😀 \\u001f é \U0010ffff"
    assert jacksonize(orjson.dumps(text)) == json_string(text).encode()
    assert jacksonize(b'"plain"') == b'"plain"'


# --- optional: the real thing ------------------------------------------------------------------------------

_JAVA_SOURCE = """
import com.fasterxml.jackson.databind.*;
import com.fasterxml.jackson.databind.node.*;
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

public class JacksonCheck {
    public static void main(String[] args) throws Exception {
        ObjectMapper mapper = new ObjectMapper();
        JsonNodeFactory f = JsonNodeFactory.withExactBigDecimals(true);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
        String line;
        while ((line = in.readLine()) != null) {
            String arg = line.substring(2);
            JsonNode node;
            switch (line.charAt(0)) {
                case 'd':
                    node = f.numberNode(Double.longBitsToDouble(Long.parseUnsignedLong(arg, 16)));
                    break;
                case 'f': node = f.numberNode(Float.intBitsToFloat((int) Long.parseLong(arg, 16))); break;
                default:
                    node = f.textNode(new String(Base64.getDecoder().decode(arg), StandardCharsets.UTF_8));
            }
            out.println(new String(mapper.writeValueAsBytes(node), StandardCharsets.UTF_8));
        }
    }
}
"""


def _java_19_plus() -> tuple[str, str] | None:
    """(java, javac) of a JDK >= 19 (its Double.toString is the one we reproduce), or None."""
    homes = [os.environ.get("JAVA_HOME", ""), *sorted(glob.glob("/usr/lib/jvm/*"), reverse=True)]
    candidates = [(str(Path(h) / "bin/java"), str(Path(h) / "bin/javac")) for h in homes if h]
    if shutil.which("java") and shutil.which("javac"):
        candidates.append((str(shutil.which("java")), str(shutil.which("javac"))))
    for java, javac in candidates:
        if not (os.access(java, os.X_OK) and os.access(javac, os.X_OK)):
            continue
        out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
        m = re.search(r'version "(\d+)', out)
        if m and int(m.group(1)) >= 19:
            return java, javac
    return None


def _jackson_classpath() -> str | None:
    root = Path.home() / ".m2/repository/com/fasterxml/jackson/core"
    jars = []
    for artifact in ("jackson-databind", "jackson-core", "jackson-annotations"):
        found = sorted(root.glob(f"{artifact}/2.*/{artifact}-2.*.jar"))
        if not found:
            return None
        jars.append(str(found[-1]))
    return os.pathsep.join(jars)


def test_against_real_jackson(tmp_path: Path) -> None:
    jdk = _java_19_plus()
    cp = _jackson_classpath()
    if jdk is None or cp is None:
        pytest.skip("needs a JDK >= 19 and Jackson jars in ~/.m2")
    java, javac = jdk
    (tmp_path / "JacksonCheck.java").write_text(_JAVA_SOURCE)
    subprocess.run(
        [javac, "-nowarn", "-cp", cp, "JacksonCheck.java"], cwd=tmp_path, check=True, capture_output=True
    )
    rnd = random.Random(42)
    lines, expected = [], []
    for _ in range(4000):
        d = struct.unpack("<d", struct.pack("<Q", rnd.getrandbits(64)))[0]
        lines.append(f"d {struct.unpack('<Q', struct.pack('<d', d))[0]:x}")
        expected.append(orjson_or_exact_double(d))
        x = 10 ** rnd.uniform(-8, 12)
        lines.append(f"d {struct.unpack('<Q', struct.pack('<d', x))[0]:x}")
        expected.append(orjson_or_exact_double(x))
        bits = rnd.getrandbits(32)
        lines.append(f"f {bits:x}")
        expected.append(_quoted(java_float(struct.unpack("<f", struct.pack("<I", bits))[0])))
    for _ in range(500):
        s = "".join(
            chr(
                rnd.choice(
                    [
                        rnd.randint(0, 0x7F),
                        rnd.randint(0, 0x1F),
                        rnd.randint(0x80, 0xD7FF),
                        rnd.randint(0x10000, 0x10FFFF),
                    ]
                )
            )
            for _ in range(rnd.randint(0, 6))
        )
        lines.append("s " + base64.b64encode(s.encode()).decode())
        expected.append(jacksonize(orjson.dumps(s)).decode())
    result = subprocess.run(
        [java, "-cp", cp + os.pathsep + str(tmp_path), "JacksonCheck"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
    )
    got = result.stdout.splitlines()
    mismatches = [(line, e, g) for line, e, g in zip(lines, expected, got, strict=True) if e != g]
    assert not mismatches[:5]


def _quoted(text: str) -> str:
    return f'"{text}"' if text[-1] in "yN" else text


def orjson_or_exact_double(x: float) -> str:
    """What the converter writes for a double (orjson in the plain range, the exact writer elsewhere)."""
    if x == x and (1e-3 <= abs(x) < 1e7 or x == 0.0):
        return orjson.dumps(x).decode()
    return _quoted(java_double(x))
