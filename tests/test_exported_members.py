"""Everything in graphbuild.__all__ exists and nothing public is missing from it (httpx's test)."""

import graphbuild


def test_all_names_exist_and_are_sorted_set():
    for name in graphbuild.__all__:
        assert hasattr(graphbuild, name), name
    assert len(set(graphbuild.__all__)) == len(graphbuild.__all__)


def test_public_members_are_exported():
    public = {
        name
        for name, value in vars(graphbuild).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("graphbuild.")
    }
    assert public <= set(graphbuild.__all__)


def test_the_engine_imports_no_rule_and_names_no_kind():
    import pathlib

    engine = pathlib.Path(graphbuild.__file__).parent
    kinds = ("dbt", "airflow", "spark", "kafka", "terraform", "avro", "sqlglot")
    for path in engine.rglob("*.py"):
        text = path.read_text().lower()
        assert "import rules" not in text and "from rules" not in text, path
        for kind in kinds:
            assert kind not in text.replace("graphbuild", ""), f"{path} names {kind}"
