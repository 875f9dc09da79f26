"""docs/architecture.md names real files: every path it mentions exists, and every harness folder is in its table."""

import re

from tests.conftest import REPO


def test_every_path_the_architecture_doc_names_exists_and_every_folder_is_listed():
    text = (REPO / "docs" / "architecture.md").read_text()
    paths = set(re.findall(r"`((?:harness|plugins|tests|docs)/[\w/.]*)`", text))
    assert len(paths) > 20
    missing = sorted(p for p in paths if not (REPO / p).exists())
    assert missing == [], f"docs/architecture.md names paths that do not exist: {missing}"
    folders = {f"harness/{p.name}/" for p in (REPO / "harness").iterdir() if (p / "__init__.py").exists()}
    assert folders - paths == set(), f"folders missing from the table: {sorted(folders - paths)}"
    assert "docs/architecture.md" in (REPO / "README.md").read_text()
