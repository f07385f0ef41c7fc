"""The docs' own check, run by `make lint`: fails, naming file and line, on

- a relative link in README.md or docs/**/*.md whose file, or whose #anchor (a heading's
  GitHub-style slug), does not exist;
- a difference between the settings docs/settings.md's table lists and those .env.example
  names, either way;
- a README.md over 10 KiB (the README says what the system is and how to run it; the rest
  belongs in docs/);
- any mention, anywhere in the repository, of the two guide files it does not hold (the names
  are spelled in pieces below, so this file does not mention them).

`--self-test` first runs each check on a small made-up tree where it must fire, so that a check
that can no longer fail is noticed. Standard library only.
"""

import argparse
import re
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README_MAX_BYTES = 10 * 1024
ABSENT_GUIDES = ("STYLE", "DESIGN")
ABSENT_GUIDE = re.compile(
    rb"(?<![\w.-])(" + b"|".join(name.encode() for name in ABSENT_GUIDES) + rb")\.md\b",
    re.IGNORECASE,
)
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# [text](target "title") and ![alt](target); the text may hold code spans and brackets.
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
SETTING_ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|")
ENV_EXAMPLE_SETTING = re.compile(r"^# ([A-Z][A-Z0-9_]+)=", re.MULTILINE)


def prose_lines(text: str):
    """(line number, line) of every line outside fenced code blocks, code spans blanked."""
    fence = None
    for number, line in enumerate(text.splitlines(), start=1):
        if match := FENCE.match(line):
            marker = match.group(1)
            if fence is None:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence):
                fence = None
            continue
        if fence is None:
            yield number, CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)


def heading_slug(heading: str) -> str:
    """GitHub's anchor of a heading: its text without markup, lowercased, punctuation dropped
    (letters, digits, `_`, `-` and spaces stay), spaces made hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = CODE_SPAN.sub(lambda m: m.group(2), text)
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors_of(path: Path) -> set[str]:
    anchors, seen = set(), {}
    fence = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := FENCE.match(line):
            marker = match.group(1)
            fence = marker if fence is None else (None if marker[0] == fence[0] else fence)
            continue
        if fence is None and (match := HEADING.match(line)):
            slug = heading_slug(match.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def broken_links(root: Path) -> list[str]:
    pages = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    problems = []
    for page in pages:
        if not page.is_file():
            continue
        where = page.relative_to(root)
        for number, line in prose_lines(page.read_text(encoding="utf-8")):
            for target in LINK.findall(line):
                if SCHEME.match(target) or target.startswith("//"):
                    continue  # not a relative link
                path_part, _, anchor = urllib.parse.unquote(target).partition("#")
                linked = (page.parent / path_part).resolve() if path_part else page
                if not linked.exists():
                    problems.append(f"{where}:{number}: {target}: no such file")
                elif anchor and linked.suffix == ".md" and anchor not in anchors_of(linked):
                    problems.append(f"{where}:{number}: {target}: no heading #{anchor} there")
    return problems


def settings_differences(root: Path) -> list[str]:
    page = root / "docs" / "settings.md"
    example = root / ".env.example"
    if not page.is_file():
        return ["docs/settings.md: missing"]
    documented = {}
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        if match := SETTING_ROW.match(line):
            documented.setdefault(match.group(1), number)
    listed = set(ENV_EXAMPLE_SETTING.findall(example.read_text(encoding="utf-8")))
    problems = [
        f"docs/settings.md: {name} is in .env.example but not in the table"
        for name in sorted(listed - set(documented))
    ]
    problems += [
        f"docs/settings.md:{documented[name]}: {name} is not in .env.example"
        for name in sorted(set(documented) - listed)
    ]
    return problems


def readme_too_long(root: Path) -> list[str]:
    size = (root / "README.md").stat().st_size
    if size > README_MAX_BYTES:
        return [f"README.md: {size} bytes, over {README_MAX_BYTES}: move detail into docs/"]
    return []


def repository_files(root: Path) -> list[Path]:
    """Tracked and untracked files, less what git ignores (.venv, artifacts...)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout
    files = (root / name for name in listed.decode().split("\0") if name)
    return [path for path in files if path.is_file()]


def absent_guide_mentions(root: Path, files: list[Path] | None = None) -> list[str]:
    problems = []
    for path in files if files is not None else repository_files(root):
        content = path.read_bytes()
        for match in ABSENT_GUIDE.finditer(content):
            number = content.count(b"\n", 0, match.start()) + 1
            name = match.group(0).decode(errors="replace")
            where = f"{path.relative_to(root)}:{number}"
            problems.append(f"{where}: mentions {name}, which is not in the repository")
    return problems


def check(root: Path, files: list[Path] | None = None) -> list[str]:
    return [
        *broken_links(root),
        *settings_differences(root),
        *readme_too_long(root),
        *absent_guide_mentions(root, files),
    ]


def self_test() -> list[str]:
    """Each check on a made-up tree where it must fire, and on one where it must not."""
    guide = ABSENT_GUIDES[0].lower() + ".md"
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "docs").mkdir()
        (root / ".env.example").write_text("# ONE=1\n# TWO=2\n")
        (root / "docs" / "settings.md").write_text("| `ONE` | 1 | one |\n| `THREE` | 3 | three |\n")
        (root / "docs" / "page.md").write_text(
            "# A page\n\n## Its `code` part, here\n\n"
            "[ok](#its-code-part-here) [ok](../README.md#top) `[not a link](nowhere.md)`\n"
            "```\n[not a link](nowhere.md)\n```\n"
            "[broken](gone.md) [broken anchor](#no-such-part) see " + guide + "\n"
        )
        (root / "README.md").write_text("# Top\n\n[docs](docs/page.md)\n" + "x" * 10240)
        found = check(root, files=sorted(root.rglob("*.*")))
        expected = [
            "docs/page.md:9: gone.md: no such file",
            "docs/page.md:9: #no-such-part: no heading #no-such-part there",
            "docs/settings.md: TWO is in .env.example but not in the table",
            "docs/settings.md:2: THREE is not in .env.example",
            "README.md: 10268 bytes, over 10240: move detail into docs/",
            f"docs/page.md:9: mentions {guide}, which is not in the repository",
        ]
        failures = [f"self-test: not reported: {line}" for line in expected if line not in found]
        failures += [
            f"self-test: reported wrongly: {line}" for line in found if line not in expected
        ]
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--self-test", action="store_true", help="also test the checks first")
    args = parser.parse_args()
    problems = (self_test() if args.self_test else []) + check(ROOT)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"check_docs: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("check_docs: links, settings page, README size and references are fine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
