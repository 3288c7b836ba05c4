#!/usr/bin/env python3
"""Every relative link in the given Markdown files must reach an existing file, and its
`#anchor`, if any, a heading of that file (GitHub's anchor rules). The README was split into
docs/ pages that link each other by heading; a renamed heading would otherwise break them
silently.

Usage: check-links.py FILE.md...   (exit 1, naming each broken link)
"""
import re
import sys
from pathlib import Path

LINK = re.compile(r"\]\(([^()\s]+)\)")


def prose(text):
    """The text outside fenced code blocks and inline code, line by line, with line numbers."""
    fence = False
    for number, line in enumerate(text.split("\n"), 1):
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        if not fence:
            yield number, re.sub(r"`+[^`]*`+", "", line)


def anchor(heading):
    """GitHub's id for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path):
    seen, found = {}, set()
    for _, line in prose(path.read_text()):
        m = re.match(r"#{1,6} (.+)", line)
        if m:
            base = anchor(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def main(files):
    broken = []
    for name in files:
        path = Path(name)
        for number, line in prose(path.read_text()):
            for target in LINK.findall(line):
                if re.match(r"[a-z]+:", target):
                    continue  # https:, mailto: ...
                file, _, fragment = target.partition("#")
                dest = (path.parent / file).resolve() if file else path.resolve()
                if not dest.exists():
                    broken.append(f"{name}:{number}: {target}: no such file")
                elif fragment and (dest.suffix != ".md" or fragment not in anchors(dest)):
                    broken.append(f"{name}:{number}: {target}: no such heading")
    print("\n".join(broken) or f"links: {len(files)} files, every relative link resolves")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
