import keyword
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphbuild.buildfiles import parse_build_file
from graphbuild.errors import BuildFileError
from graphbuild.values import FrozenDict


def test_literal_calls_parse_into_frozen_declarations():
    text = 'spark_job(\n    name="x",\n    reads=["topic:a", "table:b"],\n    retries=-2,\n    conf={"k": [1, 2.5, True, None]},\n)\n'
    (decl,) = parse_build_file("spark/jobs/x/BUILD", text)
    assert decl.type_name == "spark_job"
    assert decl.kwargs["reads"] == ("topic:a", "table:b")
    assert decl.kwargs["retries"] == -2
    assert isinstance(decl.kwargs["conf"], FrozenDict)
    assert decl.kwargs["conf"]["k"] == (1, 2.5, True, None)
    assert (decl.file, decl.line, decl.col, decl.package) == ("spark/jobs/x/BUILD", 1, 1, "spark/jobs/x")
    hash(decl)


@pytest.mark.parametrize(
    ("text", "line", "col", "what"),
    [
        ("import os\n", 1, 1, "an import"),
        ('x = 1\n', 1, 1, "an assignment"),
        ('dbt_project()\ndef f():\n    pass\n', 2, 1, "a function definition"),
        ('for i in []:\n    pass\n', 1, 1, "a loop"),
        ('a(name=b)\n', 1, 8, "a name"),
        ('a(name=os.path)\n', 1, 8, "attribute access"),
        ('a(name=f"x{1}")\n', 1, 8, "an f-string"),
        ('a(name=open("x"))\n', 1, 8, "a call"),
        ('a(name=1 + 2)\n', 1, 8, "an operator expression"),
        ('a.b(name="x")\n', 1, 1, "attribute access"),
        ('a("x")\n', 1, 1, "keyword arguments only"),
        ('a(**{"name": "x"})\n', 1, 1, "**kwargs"),
        ('a(name="x", name="y")\n', 1, 13, "given twice"),
        ('a(deps={1: "x"})\n', 1, 8, "dict keys"),
    ],
)
def test_forbidden_constructs_name_file_line_and_col(text, line, col, what):
    with pytest.raises(BuildFileError) as info:
        parse_build_file("pkg/BUILD", text)
    error = info.value
    assert (error.file, error.line) == ("pkg/BUILD", line)
    assert error.col == col
    assert what in str(error)
    assert str(error).startswith(f"pkg/BUILD:{line}:")
    assert error.fix


def test_syntax_errors_are_build_file_errors():
    with pytest.raises(BuildFileError, match="syntax error") as info:
        parse_build_file("pkg/BUILD", "a(name=\n")
    assert info.value.line == 1


def test_non_utf8_is_a_clear_error():
    with pytest.raises(BuildFileError, match="UTF-8"):
        parse_build_file("pkg/BUILD", b"a(name='\xff')")


def test_the_reader_never_executes_code(tmp_path):
    marker = tmp_path / "pwned"
    payloads = [
        f"__import__('pathlib').Path({str(marker)!r}).touch()",
        f"a(name=__import__('pathlib').Path({str(marker)!r}).touch())",
        f"a(name=[x for x in [__import__('pathlib').Path({str(marker)!r}).touch()]])",
        f"a(name=(lambda: __import__('pathlib').Path({str(marker)!r}).touch())())",
    ]
    for payload in payloads:
        with pytest.raises(BuildFileError):
            parse_build_file("BUILD", payload)
    assert not marker.exists()


literals = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(lambda s: not keyword.iskeyword(s))


@given(st.dictionaries(identifiers, literals, max_size=5))
def test_any_literal_kwargs_round_trip(kwargs):
    text = "target(" + ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) + ")"
    (decl,) = parse_build_file("BUILD", text)
    from graphbuild.values import freeze

    assert decl.kwargs == freeze(kwargs)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300) | st.binary(max_size=300))
def test_arbitrary_input_parses_or_raises_only_build_file_error(text):
    try:
        parse_build_file("BUILD", text)
    except BuildFileError:
        pass


HOSTILE = [
    "[" * 100_000,
    "a(x=" + "[" * 50_000 + "]" * 50_000 + ")",
    "a(x=" + "-" * 100_000 + "1)",
    "a(x='" + "\\" * 100_000 + "')",
    "a(" + ",".join(f"k{i}=1" for i in range(12_000)) + ")",
    "a(x=" + "9" * 100_000 + ")",
    "a(x={" + ",".join(f"'{i}':{{'a':[1]}}" for i in range(8_000)) + "})",
]


@pytest.mark.parametrize("index", range(len(HOSTILE)))
def test_hostile_100kb_inputs_finish_with_a_documented_outcome(index):
    # Run in a subprocess so a hang or a crash (not an exception) would show; the 20 s limit is a
    # hang guard, not a performance goal (bench/ measures the time).
    code = (
        "import sys; from graphbuild.buildfiles import parse_build_file; from graphbuild.errors import BuildFileError\n"
        f"from tests.test_buildfiles import HOSTILE\n"
        "try:\n    parse_build_file('BUILD', HOSTILE[int(sys.argv[1])])\nexcept BuildFileError as e:\n    print('error', e.line)\nelse:\n    print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(index)], capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] in ("ok", "error")
