"""docs/integration.md shows the example consumer the e2e test runs, verbatim."""

from __future__ import annotations

from shared.settings import REPO_ROOT

GUIDE = REPO_ROOT / "docs" / "integration.md"
EXAMPLE = REPO_ROOT / "docs" / "examples" / "department_consumer.py"


def test_the_guide_includes_the_example_consumer_unchanged() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    example = EXAMPLE.read_text(encoding="utf-8")
    assert f"```python\n{example}```\n" in guide, "paste docs/examples/department_consumer.py into the guide again"


def test_the_guide_links_the_contract_and_the_example() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    for target in ("asyncapi.yaml", "examples/department_consumer.py", "schemas/"):
        assert f"]({target})" in guide
        assert (GUIDE.parent / target).exists()
