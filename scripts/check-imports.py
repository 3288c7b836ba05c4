#!/usr/bin/env python3
"""Finds circles among a crate's modules (issue 21).

A circle (config uses policy, policy uses config) means neither module can be read, tested
or moved without the other; the compiler accepts it, so this check is what keeps new ones
out. Usage: check-imports.py [SRC_DIR] (default core/src). Prints
`N modules, M imports, no circle`, or names every circle with the lines that make it and
exits 1. Standard library only, so `make lint` needs nothing installed.

Which modules exist is read the way rustc reads it: from lib.rs (or main.rs) through every
`mod name;`, honouring `#[path = "..."]`; an item under `#[cfg(test)]` (a test module, a
test-only import) is not production code and is left out. Then every path that names
something in the crate is an edge from the module it is written in to the deepest module the
path reaches (`crate::session::Session` reaches `crate::session`): `use` trees (grouped,
nested, multi-line) and paths written inline in code (`crate::limiter::take(`), starting with
`crate::`, `super::`, `self::` or the name of a child module.

Edges that are not dependencies between peers are left out, so that structure alone is
never a circle:
  * `mod child;` and `pub use child::X` in a parent: a module declaring and re-exporting
    its children is how Rust builds a tree, not an import;
  * a path into the module itself.
A child using its ancestor's items is an edge (child -> ancestor); a parent using its child's
items is too (downward): both together are a circle, for the same reason as between peers.
"""

import os
import re
import sys

Module = str  # "crate::a::b"


def strip(text):
    """The source with comments blanked and string/char literals emptied, newlines kept (so
    line numbers still hold). The string of a `#[path = "..."]` attribute is kept: it says
    where a module's file is."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif re.match(r'b?r#*"', text[i:i + 9]) and not _ident_before(text, i):
            # A raw string: no escapes, ends at `"` and as many `#` as it opened with.
            opening = re.match(r'b?r(#*)"', text[i:])
            hashes = opening.group(1)
            start = i + len(opening.group(0))
            end = text.find('"' + hashes, start)
            end = n if end < 0 else end + 1 + len(hashes)
            out.append('""' + re.sub(r"[^\n]", " ", text[start:end]))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            body = text[i + 1:j]
            if re.search(r"#\[\s*path\s*=\s*$", "".join(out[-40:])):
                out.append('"' + body + '"')
            else:
                out.append('"' + re.sub(r"[^\n]", " ", body) + '"')
            i = j + 1
        elif c == "'":
            # A char literal ('{', '\'', '\u{7f}'), not a lifetime ('a).
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i:i + 12])
            if m:
                out.append("' '")
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _ident_before(text, i):
    return i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")


def item_end(text, i):
    """The end of the item starting at `i`: its `;`, or the brace closing its body."""
    depth = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "{":
            brace = 1
            i += 1
            while i < n and brace:
                brace += {"{": 1, "}": -1}.get(text[i], 0)
                i += 1
            if depth == 0:
                return i
            continue
        elif c == ";" and depth == 0:
            return i + 1
        i += 1
    return n


ATTR = re.compile(r"#\[\s*cfg\s*\(\s*test\s*\)\s*\]")


def drop_test_items(text):
    """Blanks every item under `#[cfg(test)]`, keeping newlines."""
    while True:
        m = ATTR.search(text)
        if not m:
            return text
        i = m.end()
        # Further attributes on the same item belong to it.
        while True:
            a = re.match(r"\s*#\[", text[i:])
            if not a:
                break
            i = item_end_attr(text, i + a.end() - 1)
        end = item_end(text, i)
        text = text[:m.start()] + re.sub(r"[^\n]", " ", text[m.start():end]) + text[end:]


def item_end_attr(text, i):
    """The end of the attribute whose `[` is at `i`."""
    depth = 0
    while i < len(text):
        depth += {"[": 1, "]": -1}.get(text[i], 0)
        i += 1
        if depth == 0:
            return i
    return i


MOD_DECL = re.compile(
    r'((?:#\[[^\]]*\]\s*)*)(?:pub(?:\s*\([^)]*\))?\s+)?mod\s+(r#)?([A-Za-z_]\w*)\s*;')
PATH_ATTR = re.compile(r'#\[\s*path\s*=\s*"([^"]*)"\s*\]')


def discover(src):
    """Module path -> (file, stripped text), from the crate root through `mod` declarations."""
    for root in ("lib.rs", "main.rs"):
        if os.path.exists(os.path.join(src, root)):
            break
    else:
        sys.exit(f"check-imports: no lib.rs or main.rs in {src}")
    modules = {}
    todo = [("crate", os.path.join(src, root), True)]
    while todo:
        name, path, mod_rs = todo.pop()
        with open(path, encoding="utf-8") as f:
            text = drop_test_items(strip(f.read()))
        modules[name] = (path, text)
        here = os.path.dirname(path)
        # Children of a non-mod-rs file `a/b.rs` live in `a/b/`.
        child_dir = here if mod_rs else os.path.join(here, os.path.splitext(os.path.basename(path))[0])
        for m in MOD_DECL.finditer(text):
            child = m.group(3)
            attr = PATH_ATTR.search(m.group(1) or "")
            if attr:
                file = os.path.normpath(os.path.join(here, attr.group(1)))
                todo.append((f"{name}::{child}", file, os.path.basename(file) == "mod.rs"))
                continue
            flat = os.path.join(child_dir, child + ".rs")
            nested = os.path.join(child_dir, child, "mod.rs")
            if os.path.exists(flat):
                todo.append((f"{name}::{child}", flat, False))
            elif os.path.exists(nested):
                todo.append((f"{name}::{child}", nested, True))
            else:
                sys.exit(f"check-imports: {path}: no file for `mod {child};`")
    return modules


USE = re.compile(r"\b(pub(?:\s*\([^)]*\))?\s+)?use\s+([^;]*);")
INLINE = re.compile(r"(?<![\w$:])((?:crate|super|self)(?:\s*::\s*[A-Za-z_]\w*)+)")


def expand(tree):
    """`a::{b::{c, d}, e as f, self}` -> ["a::b::c", "a::b::d", "a::e", "a"]."""
    return _expand(re.sub(r"\s+", "", tree), "")


def _expand(tree, prefix):
    out = []
    for part in _split_top(tree):
        if "{" in part:
            head, _, rest = part.partition("{")
            inner = rest[: rest.rfind("}")]
            out += _expand(inner, prefix + head)
        elif part == "self":
            out.append(prefix.rstrip(":"))
        elif part:
            out.append(prefix + part)
    return out


def _split_top(tree):
    parts, depth, cur = [], 0, ""
    for c in tree:
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    return parts


def clean_use(tree):
    # `x as y`: only `x` names something.
    return re.sub(r"\s+as\s+[A-Za-z_]\w*", "", tree)


def resolve(path, here, modules):
    """The deepest module `path` (written in module `here`) reaches, or None outside the crate."""
    segs = [s for s in path.replace(" ", "").split("::") if s and s != "*"]
    if not segs:
        return None
    if segs[0] == "crate":
        base, rest = ["crate"], segs[1:]
    elif segs[0] in ("super", "self"):
        base = here.split("::")
        rest = segs
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
        if not base:
            return None
    elif f"{here}::{segs[0]}" in modules:
        # 2018 paths: a child module named without `self::`.
        base, rest = here.split("::"), segs
    else:
        return None  # another crate, or an item of this module
    mod = "::".join(base)
    for s in rest:
        if f"{mod}::{s}" in modules:
            mod = f"{mod}::{s}"
        else:
            break
    return mod


def is_descendant(a, b):
    return a.startswith(b + "::")


def edges_of(modules):
    """(from, to) -> [(file, line, text)], and the number of import paths read."""
    edges = {}
    count = 0
    for here, (file, text) in modules.items():
        spans = []
        for m in USE.finditer(text):
            spans.append((m.start(), m.end()))
            reexport = bool(m.group(1))
            for p in expand(clean_use(m.group(2))):
                target = resolve(p, here, modules)
                if target is None:
                    continue
                count += 1
                if target == here or (reexport and is_descendant(target, here)):
                    continue
                line = text.count("\n", 0, m.start()) + 1
                edges.setdefault((here, target), []).append((file, line, "use " + p))
        for m in INLINE.finditer(text):
            if any(a <= m.start() < b for a, b in spans):
                continue
            p = re.sub(r"\s+", "", m.group(1))
            target = resolve(p, here, modules)
            if target is None:
                continue
            count += 1
            if target == here:
                continue
            line = text.count("\n", 0, m.start()) + 1
            edges.setdefault((here, target), []).append((file, line, p))
    return edges, count


def tarjan(nodes, graph):
    """Strongly connected components, iteratively (no recursion limit to meet)."""
    index, low, on, stack, comps = {}, {}, set(), [], []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    comps.append(sorted(comp))
    return comps


def shortest_cycle(start, graph, members):
    """The shortest circle through `start` inside one component."""
    prev = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph.get(v, ())):
            if w not in members:
                continue
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return [start, start]


def main(argv):
    src = argv[1] if len(argv) > 1 else "core/src"
    modules = discover(src)
    edges, count = edges_of(modules)
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    circles = []
    for comp in tarjan(sorted(modules), graph):
        if len(comp) < 2:
            continue
        members = set(comp)
        covered = set()
        for node in comp:
            if node in covered:
                continue
            cycle = shortest_cycle(node, graph, members)
            covered.update(cycle)
            circles.append(cycle)
    print(f"{len(modules)} modules, {count} imports, "
          + ("no circle" if not circles else f"{len(circles)} circle(s)"))
    for cycle in circles:
        print("circle: " + " -> ".join(cycle))
        for a, b in zip(cycle, cycle[1:]):
            file, line, what = edges[(a, b)][0]
            more = len(edges[(a, b)]) - 1
            print(f"  {a} -> {b}: {file}:{line} {what}" + (f" (and {more} more)" if more else ""))
    return 1 if circles else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
