"""Every citation in the repository can be followed by someone who has only the repository.

Code comments and docs cite the project's own docs (``docs/architecture.md, Layers``,
``docs/okta-behaviour.md, Rate limits and paging``) or public URLs; never documents that live elsewhere, and
never a bare section sign whose document the reader cannot know.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ["oktasync", "tests", "benchmarks", "docs", "configs", "README.md"]
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".json", ".txt"}

# Documents outside the repository. Spelled in pieces so that this file does not cite them itself.
OUTSIDE = re.compile(
    "|".join(
        [
            r"DESIGN" + r"\.md",
            r"okta-api" + r"\.md",
            r"scim-and-peers",
            r"style-anchors",
            r"vendor-runbook",
        ]
    )
)
# A section sign is allowed only after an RFC number ("RFC 7644 §3.4.2"): the reader can open the RFC.
BARE_SECTION = re.compile(r"(?<!RFC \d\d\d\d )(?:\u00a7|\\u00a7)")
# A path into this repository's flat docs folder, optionally with an anchor.
DOC_PATH = re.compile(r"(?<![\w/.-])docs/([\w-]+\.md)(?:#([\w-]+))?")
# "okta/okta-sdk-python `docs/X.md`": a path in another, named repository.
OTHER_REPO = re.compile(r"[\w.-]+/[\w.-]+ `$")
# "docs/architecture.md, Channels": a citation of a section by its heading.
SECTION_CITE = re.compile(r"docs/(architecture|okta-behaviour)\.md, ([A-Z][^.;:()\n]*)")


def _files() -> list[Path]:
    found: list[Path] = []
    for name in SCANNED:
        path = ROOT / name
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        found += [
            p for p in candidates if p.is_file() and p.suffix in SUFFIXES and "__pycache__" not in p.parts
        ]
    return [p for p in found if p != Path(__file__).resolve()]


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _flowed(text: str) -> str:
    """Text with line breaks (and the comment markers that continue a comment) folded into spaces."""
    return re.sub(r"[ \t]*\n[ \t]*(?:#[ \t]*)?", " ", text)


def _headings(doc: Path) -> list[str]:
    return [line.lstrip("#").strip() for line in _text(doc).splitlines() if line.startswith("#")]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _where(path: Path, text: str, offset: int) -> str:
    return f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, offset) + 1}"


def test_the_scan_covers_the_repository() -> None:
    files = {p.relative_to(ROOT).as_posix() for p in _files()}
    for expected in (
        "oktasync/okta_gateway/sdk.py",
        "docs/okta-behaviour.md",
        "README.md",
        "configs/chronosphere.yaml",
    ):
        assert expected in files


def test_no_citation_of_documents_outside_the_repository() -> None:
    problems = []
    for path in _files():
        text = _text(path)
        problems += [f"{_where(path, text, m.start())}: {m.group(0)}" for m in OUTSIDE.finditer(text)]
        problems += [
            f"{_where(path, text, m.start())}: bare section sign" for m in BARE_SECTION.finditer(text)
        ]
    assert problems == [], (
        "cite docs/okta-behaviour.md, docs/architecture.md or a public URL instead:\n" + "\n".join(problems)
    )


def test_every_cited_docs_path_and_anchor_exists() -> None:
    problems = []
    cited = 0
    for path in _files():
        text = _text(path)
        for match in DOC_PATH.finditer(text):
            if OTHER_REPO.search(text[max(0, match.start() - 100) : match.start()]):
                continue
            cited += 1
            doc = ROOT / "docs" / match.group(1)
            if not doc.is_file():
                problems.append(f"{_where(path, text, match.start())}: {match.group(0)} does not exist")
            elif match.group(2) and match.group(2) not in {_slug(h) for h in _headings(doc)}:
                problems.append(f"{_where(path, text, match.start())}: no heading for #{match.group(2)}")
    assert cited > 50  # the check sees the citations
    assert problems == [], "\n".join(problems)


def test_every_cited_section_of_the_architecture_and_the_ledger_exists() -> None:
    headings = {name: _headings(ROOT / "docs" / f"{name}.md") for name in ("architecture", "okta-behaviour")}
    problems = []
    cited = 0
    for path in _files():
        text = _flowed(_text(path))
        for match in SECTION_CITE.finditer(text):
            cited += 1
            name, cited_text = match.group(1), match.group(2)
            if not any(cited_text.startswith(h) for h in headings[name]):
                problems.append(
                    f"{path.relative_to(ROOT)}: {match.group(0)!r} names no section of docs/{name}.md"
                )
    assert cited > 50
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(
    ("line", "outside", "bare"),
    [
        ("see DESIGN" + ".md §3", True, True),
        ("(okta-api" + ".md §1.4)", True, True),
        ("RFC 7644 \u00a73.4.2", False, False),
        ("docs/okta-behaviour.md, Rate limits and paging", False, False),
    ],
)
def test_the_patterns_tell_a_bad_citation_from_a_good_one(line: str, outside: bool, bare: bool) -> None:
    assert bool(OUTSIDE.search(line)) is outside
    assert bool(BARE_SECTION.search(line)) is bare
