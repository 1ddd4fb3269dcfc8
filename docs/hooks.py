"""MkDocs hook: the README's sections become the guides and the notebooks the examples
gallery, generated at build time so that the site never drifts from them.

README.md is split at its level-2 headings ("## ..."), outside code blocks: the text
before the first one is the home page, each section a page under guides/. Each notebook in
notebooks/ becomes a page under examples/: its markdown cells as text, its code cells as
Python blocks (the notebooks are executed, with their assertions, by the test suite).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
GITHUB_FILES = ("benchmarks/", "tests/", "notebooks/", ".ci/", "pyproject.toml", "neurodyn/")


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def readme_sections() -> list[tuple[str, str]]:
    """[(title, markdown)], the first being the introduction."""
    sections, title, lines, fenced = [], "neurodyn", [], False
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            sections.append((title, "\n".join(lines)))
            title, lines = line[3:].strip(), [f"# {line[3:].strip()}"]
        else:
            lines.append(line)
    sections.append((title, "\n".join(lines)))
    return sections


def _unlink_repo_paths(text: str) -> str:
    """Links to repository files (not pages of this site) become code spans."""
    def repl(m):
        label, target = m.group(1), m.group(2)
        if target.startswith(("http://", "https://", "#")):
            return m.group(0)
        return f"{label} (`{target}`)"

    return re.sub(r"\[([^\]]+)\]\(([^)]+)\)", repl, text)


def notebook_markdown(path: Path) -> str:
    nb = json.loads(path.read_text())
    out = []
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            out.append(_unlink_repo_paths(src))
        elif cell["cell_type"] == "code" and src.strip():
            out.append(f"```python\n{src}\n```")
    out.append(f"\n*Source: `notebooks/{path.name}` (run in CI with its assertions).*")
    return "\n\n".join(out) + "\n"


def on_files(files, config):
    sections = readme_sections()
    intro = _unlink_repo_paths(sections[0][1])
    guides = "\n".join(f"- [{t}](guides/{slug(t)}.md)" for t, _ in sections[1:])
    examples = "\n".join(f"- [{p.stem}](examples/{p.stem}.md)" for p in sorted((ROOT / "notebooks").glob("*.ipynb")))
    home = (f"{intro}\n\n## Guides\n\n{guides}\n\n## Examples\n\n{examples}\n\n"
            "## API reference\n\nSee [the API pages](api/index.md).\n")
    files.append(File.generated(config, "index.md", content=home))
    for title, text in sections[1:]:
        files.append(File.generated(config, f"guides/{slug(title)}.md", content=_unlink_repo_paths(text) + "\n"))
    for p in sorted((ROOT / "notebooks").glob("*.ipynb")):
        files.append(File.generated(config, f"examples/{p.stem}.md", content=notebook_markdown(p)))
    return files
