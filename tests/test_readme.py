"""README stays short, complete and linked: every setting in its table, every link to a page or heading that exists."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
MAX_README_LINES = 300
SET_BY_LAMBDA = re.compile(r"^AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|LAMBDA_\w+)$")


def table_names(text: str) -> set[str]:
    """The `NAME`s in the first column of every Markdown table row."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", line.split(" | ")[0]))
    return names


def variables_the_code_reads() -> set[str]:
    found = {"POWERTOOLS_LOG_LEVEL", "LOG_LEVEL"}  # checked by log.py in one loop over both names
    for path in (REPO / "src" / "forwarder").rglob("*.py"):
        if "infra" in path.parts:  # the custom resources' variables are the template's own wiring
            continue
        text = path.read_text()
        found |= set(re.findall(r'(?:env|environ)\.get\(\s*"([A-Z][A-Z0-9_]+)"', text))
        found |= set(re.findall(r'\(env, "([A-Z][A-Z0-9_]+)"', text))
    return {name for name in found if not SET_BY_LAMBDA.match(name)}


def template_parameters() -> set[str]:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)  # !Ref, !Sub, ...
    return set(yaml.load((REPO / "template.yaml").read_text(), Loader=Loader)["Parameters"])


def test_readme_is_short() -> None:
    assert len(README.read_text().splitlines()) < MAX_README_LINES


def test_every_variable_the_code_reads_is_in_the_readmes_table() -> None:
    variables = variables_the_code_reads()
    assert len(variables) > 25, variables
    assert variables - table_names(README.read_text()) == set()


def test_every_template_parameter_is_in_the_readmes_table() -> None:
    parameters = template_parameters()
    assert "OpenSearchEndpoint" in parameters and "BootstrapRevision" in parameters
    assert parameters - table_names(README.read_text()) == set()


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", path.read_text(), re.M)
    }


def test_every_relative_link_reaches_a_file_and_heading() -> None:
    pages = [README, *sorted((REPO / "docs").glob("*.md"))]
    assert len(pages) > 3
    checked = 0
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if target.startswith("http"):
                continue
            file, _, anchor = target.partition("#")
            linked = (page.parent / file).resolve() if file else page
            assert linked.exists(), f"{page.name}: {target}"
            if anchor:
                assert anchor in anchors(linked), f"{page.name}: {target}"
            checked += 1
    assert checked > 10
