"""Turn the book's MyST markup into Markdown that Jupyter and Colab render.

The chapters' ``.md`` files keep their MyST markup for the book; the notebooks
generated from them (``bookfactory/sync_notebooks.py``) must read the same without
Sphinx. Everything is rebuilt from the same sources the book uses, at
generation time:

* ``{literalinclude}`` -> the included code itself (``:pyobject:`` found with
  ``ast``, the way Sphinx finds it, decorators included), so it cannot drift,
  under a one-line caption naming the file and object (two includes in a row
  would otherwise read as one block);
* ``{cite}`` -> author-year text linked to a "References" list appended to the
  notebook, built from ``book/references.bib`` (with the DOI/URL when the entry
  has one);
* ``{admonition}`` with ``:class: dropdown`` -> ``<details>``; other admonitions
  and notes -> block quotes;
* ``{figure}`` -> the image inlined as a ``data:`` URI (loads on Colab, in
  Jupyter offline and in ``nbconvert`` without the repository's files);
* ``{ref}``, ``{numref}``, ``{eq}``, ``{doc}``, ``{math}`` ... -> plain text,
  in-notebook links or ``$...$``; ``(label)=`` targets -> HTML anchors;
  ``$$ ... $$ (label)`` -> a ``\\tag{n}`` equation.

Anything else that looks like a directive or role raises ``MystError`` naming
the chapter, the line and the markup, so new markup cannot reach a notebook
unconverted.
"""
from __future__ import annotations

import ast
import functools
import base64
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIBFILE = ROOT / "book" / "references.bib"

# A directive or a role left in a notebook's markdown: what the test looks for.
LEFTOVER = re.compile(r"^\s*(`{3,}|:{3,})\s*\{[\w:-]+\}|\{[a-z][\w:-]*\}`|^\(\S+\)=\s*$"
                      r"|\$\$\s*\(\S+\)\s*$", re.M)

_FENCE_OPEN = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|:{3,})\s*(?P<rest>.*)$")
_DIRECTIVE = re.compile(r"^\{(?P<name>[\w:-]+)\}\s*(?P<arg>.*)$")
_OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*)$")
_ROLE = re.compile(r"\{(?P<name>[a-z][\w:-]*)\}`(?P<text>[^`]*)`")
_TARGET = re.compile(r"^\((?P<label>[^()\s]+)\)=\s*$")
_LABELLED_MATH = re.compile(r"\$\$(?P<body>(?:(?!\$\$).)+?)\$\$[ \t]*\((?P<label>[^()\s]+)\)", re.S)
_HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*$")
_ADMONITIONS = {"admonition", "note", "tip", "hint", "important", "warning", "caution",
                "attention", "danger", "error", "seealso"}


class MystError(ValueError):
    """Markup in a chapter that the notebook converter does not know how to render."""


@dataclass
class Context:
    """What a chapter's conversion needs to know across its cells."""

    source: Path                                   # the chapter's .md (relative paths start here)
    bib: dict[str, dict] = field(default_factory=dict)
    cited: list[str] = field(default_factory=list)  # keys in order of first citation
    figures: dict[str, int] = field(default_factory=dict)   # label -> number
    figure_count: int = 0                                    # figures numbered so far (scan)
    figures_drawn: int = 0                                   # figures converted so far
    equations: dict[str, int] = field(default_factory=dict)  # label -> number
    sections: dict[str, str] = field(default_factory=dict)   # label -> heading text
    cell_line: int | None = None   # the .md line where the cell being converted starts
    line: int | None = None        # the .md line being converted (for errors)

    def fail(self, what: str) -> MystError:
        where = self.source.name if self.line is None else f"{self.source.name}, line {self.line}"
        return MystError(f"{where}: {what}. Teach bookfactory/myst_markdown.py to render it "
                         "or use other markup.")

    def at(self, offset: int) -> None:
        """Errors from here on name the cell's line ``offset`` (0-based) of the .md."""
        self.line = None if self.cell_line is None else self.cell_line + offset


# ----------------------------------------------------------------- bibliography
@functools.lru_cache(maxsize=4)
def load_bibliography(path: Path = BIBFILE) -> dict[str, dict]:
    """Key -> {'cite': author-year label parts, 'entry': formatted reference, 'link': URL|None}."""
    from pybtex.database import parse_file
    from pybtex.plugin import find_plugin
    from pybtex.richtext import Text

    db = parse_file(str(path))
    style = find_plugin("pybtex.style.formatting", "plain")()
    formatted = {e.key: " ".join(e.text.render_as("text").split())
                 for e in style.format_entries(db.entries.values())}
    out = {}
    for key, entry in db.entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        last = [Text.from_latex(" ".join(p.prelast_names + p.last_names)).render_as("text")
                for p in people]
        if len(last) == 1:
            authors = last[0]
        elif len(last) == 2:
            authors = f"{last[0]} and {last[1]}"
        else:
            authors = f"{last[0]} et al." if last else key
        doi = entry.fields.get("doi")
        link = f"https://doi.org/{doi}" if doi else entry.fields.get("url")
        out[key] = {"authors": authors, "year": entry.fields.get("year", "n.d."),
                    "entry": formatted[key], "link": link}
    return out


def references_cell(ctx: Context) -> str | None:
    """The markdown of a "References" cell for the works this chapter cites, or None."""
    if not ctx.cited:
        return None
    lines = ["## References", ""]
    for key in ctx.cited:
        item = ctx.bib[key]
        link = f" <{item['link']}>" if item["link"] else ""
        lines.append(f'- <a id="ref-{key}"></a>{_escape(item["entry"])}{link}')
    return "\n".join(lines)


def _escape(text: str) -> str:
    return re.sub(r"([*_`\[\]<>])", r"\\\1", text)


# ------------------------------------------------------------------ directives
def _split_directive(lines: list[str], start: int, ctx: Context):
    """Parse the fenced directive opening at ``lines[start]``.

    Returns (name, argument, options, body lines, index after the closing fence).
    """
    m = _FENCE_OPEN.match(lines[start])
    fence = m["fence"]
    d = _DIRECTIVE.match(m["rest"])
    end = start + 1
    closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
    while end < len(lines) and not closing.match(lines[end]):
        end += 1
    if end == len(lines):
        raise ctx.fail(f"the directive opened by {lines[start]!r} is never closed")
    body = lines[start + 1:end]
    options: dict[str, str] = {}
    if body and body[0].strip() == "---":  # YAML option block
        close = body.index("---", 1)
        for line in body[1:close]:
            key, _, value = line.partition(":")
            options[key.strip()] = value.strip()
        body = body[close + 1:]
    else:
        while body and _OPTION.match(body[0]):
            o = _OPTION.match(body[0])
            options[o["key"]] = o["value"].strip()
            body = body[1:]
    while body and not body[0].strip():
        body = body[1:]
    return d["name"], d["arg"].strip(), options, body, end + 1


def _pyobject_lines(path: Path, name: str, ctx: Context) -> tuple[int, int]:
    """1-based (first, last) line of ``name`` (``Class.method`` allowed), decorators included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body
    node = None
    for part in name.split("."):
        node = next((n for n in nodes if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                        ast.ClassDef)) and n.name == part), None)
        if node is None:
            raise ctx.fail(f":pyobject: {name} is not defined in {path}")
        nodes = node.body
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return first, node.end_lineno


def _lines_option(spec: str, n: int, what: str, ctx: Context) -> list[int]:
    """0-based indices of ``:lines:`` (``1,3-5,8-``); a range outside the ``n`` lines is an error.

    Sphinx would silently show less (or nothing); a shifted include must fail instead.
    """
    keep: list[int] = []
    for part in spec.split(","):
        a, dash, b = part.strip().partition("-")
        try:
            lo = int(a) if a else 1
            hi = (int(b) if b else n) if dash else lo
        except ValueError:
            raise ctx.fail(f"literalinclude of {what}: :lines: {spec!r} is not a list of line "
                           "numbers and ranges such as 1,3-5,8-") from None
        if not 1 <= lo <= hi <= n:
            raise ctx.fail(f"literalinclude of {what}: :lines: {part.strip()} is outside its "
                           f"{n} lines (lines 1-{n})")
        keep += range(lo, hi + 1)
    return [i - 1 for i in keep]


_INCLUDE_OPTIONS = {"pyobject", "lines", "start-after", "end-before", "start-at", "end-at",
                    "dedent", "language", "caption", "linenos", "emphasize-lines", "name"}


def literalinclude(arg: str, options: dict[str, str], ctx: Context) -> list[str]:
    """The fenced code block a ``{literalinclude}`` shows, read from the same file."""
    unknown = set(options) - _INCLUDE_OPTIONS
    if unknown:
        raise ctx.fail(f"literalinclude option(s) {sorted(unknown)} are not supported")
    path = (ctx.source.parent / arg).resolve()
    if not path.is_file():
        raise ctx.fail(f"literalinclude of {arg}: no such file ({path})")
    lines = path.read_text().splitlines()
    what = arg
    if "pyobject" in options:
        first, last = _pyobject_lines(path, options["pyobject"], ctx)
        lines = lines[first - 1:last]
        what = f"{arg} (:pyobject: {options['pyobject']})"
    if "lines" in options:
        lines = [lines[i] for i in _lines_option(options["lines"], len(lines), what, ctx)]
    for key, after, keep in (("start-after", True, False), ("start-at", True, True),
                             ("end-before", False, False), ("end-at", False, True)):
        if key not in options:
            continue
        hit = next((i for i, line in enumerate(lines) if options[key] in line), None)
        if hit is None:
            raise ctx.fail(f"literalinclude :{key}: {options[key]!r} not found in {arg}")
        if after:
            lines = lines[hit + (0 if keep else 1):]
        else:
            lines = lines[:hit + (1 if keep else 0)]
    if "dedent" in options:
        lines = textwrap.dedent("\n".join(lines)).splitlines()
    lang = options.get("language") or ("python" if path.suffix == ".py" else "")
    fence = "````" if any(line.lstrip().startswith("```") for line in lines) else "```"
    caption = options.get("caption")
    caption = convert_inline(caption, ctx) if caption else _include_caption(path, arg, options)
    return [f"*{caption}*", "", fence + lang, *lines, fence]


def _include_caption(path: Path, arg: str, options: dict[str, str]) -> str:
    """Where included code comes from, in a few words: a reader can import it from there."""
    try:
        shown = path.relative_to(ROOT).as_posix()
    except ValueError:  # a file outside the repository (tests)
        shown = arg
    if "pyobject" in options:
        return f"`{options['pyobject']}`, from `{shown}`"
    if "lines" in options:
        return f"`{shown}`, lines {options['lines']}"
    if any(k in options for k in ("start-after", "start-at", "end-before", "end-at")):
        return f"From `{shown}`"
    return f"`{shown}`"


_MIME = {".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg",
         ".jpeg": "image/jpeg", ".gif": "image/gif"}


def figure(arg: str, options: dict[str, str], body: list[str], ctx: Context) -> list[str]:
    """An inlined image (data URI) with its numbered caption."""
    path = (ctx.source.parent / arg).resolve()
    if path.suffix.lower() not in _MIME or not path.is_file():
        raise ctx.fail(f"figure {arg}: not an image file this converter can inline ({path})")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    label = options.get("name")
    ctx.figures_drawn += 1
    number = ctx.figures_drawn  # the same order as scan() numbered them
    caption = " ".join(convert_inline(line, ctx) for line in body if line.strip())
    alt = options.get("alt") or re.sub(r"[\[\]*`]", "", caption)[:200]
    # Markdown's image syntax with a data: URI is what Colab itself writes for a pasted image;
    # it also shows in Jupyter offline and in nbconvert's HTML. (The book's :width: is dropped:
    # notebooks already fit images to the page.)
    lines = [f'<a id="{label}"></a>', ""] if label else []
    return lines + [f"![{alt}](data:{_MIME[path.suffix.lower()]};base64,{data})", "",
                    f"**Fig. {number}.** {caption}".rstrip()]


def admonition(name: str, arg: str, options: dict[str, str], body: list[str],
               ctx: Context, first: int = 0) -> list[str]:
    """``first``: the offset of ``body[0]`` in the cell (for the line number of errors)."""
    title = arg or name.capitalize()
    inner = convert_lines(body, ctx, first)
    classes = options.get("class", "").split()
    if "dropdown" in classes:
        return [f"<details><summary>{convert_inline(title, ctx)}</summary>", "", *inner, "",
                "</details>"]
    quoted = [f"> **{convert_inline(title, ctx)}**", ">"]
    return quoted + [f"> {line}" if line.strip() else ">" for line in inner]


# ----------------------------------------------------------------------- roles
def _cite(name: str, text: str, ctx: Context) -> str:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    parts = []
    for key in keys:
        if key not in ctx.bib:
            raise ctx.fail(f"{{{name}}} cites {key!r}, which is not in {BIBFILE.name}")
        if key not in ctx.cited:
            ctx.cited.append(key)
        item = ctx.bib[key]
        if name == "cite:t":
            parts.append(f"[{item['authors']} \\[{item['year']}\\]](#ref-{key})")
        else:
            parts.append(f"[{item['authors']}, {item['year']}](#ref-{key})")
    if name == "cite:t":
        return ", ".join(parts)
    return "\\[" + "; ".join(parts) + "\\]"


def _explicit(text: str) -> tuple[str | None, str]:
    """``title <target>`` -> (title, target); ``target`` -> (None, target)."""
    m = re.match(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>$", text, re.S)
    return (m["title"], m["target"]) if m else (None, text.strip())


def _role(m: re.Match, ctx: Context) -> str:
    name, text = m["name"], m["text"]
    if name in ("cite", "cite:p", "cite:t", "cite:ps", "cite:ts"):
        return _cite("cite:t" if name.startswith("cite:t") else "cite:p", text, ctx)
    if name in ("math", "m"):
        return f"${text}$"
    if name in ("code", "samp", "kbd", "file", "command", "program", "envvar", "option"):
        return f"`{text}`"
    if name in ("sub", "sup"):
        return f"<{name}>{text}</{name}>"
    if name in ("abbr", "term", "dfn"):
        title, target = _explicit(text)
        return title or target
    if name == "fa":
        return ""  # an icon: nothing to say in plain text
    if name == "eq":
        title, label = _explicit(text)
        if label not in ctx.equations:
            raise ctx.fail(f"{{eq}}`{text}` names no labelled equation of this chapter")
        return f"[{title or f'({ctx.equations[label]})'}](#{label})"
    if name == "numref":
        title, label = _explicit(text)
        if label in ctx.figures:
            shown = (title or "Fig. {number}").replace("{number}", str(ctx.figures[label]))
            shown = shown.replace("%s", str(ctx.figures[label]))
            return f"[{shown}](#{label})"
        if label in ctx.sections:
            return f"[{title or ctx.sections[label]}](#{label})"
        raise ctx.fail(f"{{numref}}`{text}` names no figure or section of this chapter")
    if name == "ref":
        title, label = _explicit(text)
        if label in ctx.sections:
            return f"[{title or ctx.sections[label]}](#{label})"
        if label in ctx.figures:
            return f"[{title or f'Fig. {ctx.figures[label]}'}](#{label})"
        return title or label  # a target in another chapter: its words, no link
    if name in ("doc", "download"):
        title, target = _explicit(text)
        return title or _doc_title(target, ctx)
    raise ctx.fail(f"the role {{{name}}}`{text}`")


def _doc_title(target: str, ctx: Context) -> str:
    path = (ctx.source.parent / target)
    for candidate in (path.with_suffix(".md"), path):
        if candidate.is_file():
            for line in candidate.read_text().splitlines():
                h = re.match(r"^#\s+(.+)$", line)
                if h:
                    return f"“{h[1].strip()}”"
    return Path(target).stem


def convert_inline(text: str, ctx: Context) -> str:
    """Roles in one line or paragraph, leaving inline code spans alone."""
    out, pos = [], 0
    for m in re.finditer(r"\{[a-z][\w:-]*\}`[^`]*`|(`+)[^`]*?\1", text):
        out.append(text[pos:m.start()])
        out.append(m[0] if m[0].startswith("`") else _role(_ROLE.match(m[0]), ctx))
        pos = m.end()
    return "".join(out) + text[pos:]


# ---------------------------------------------------------------------- blocks
def convert_lines(lines: list[str], ctx: Context, first: int = 0) -> list[str]:
    """Convert a cell's lines; ``first`` is the offset of ``lines[0]`` in the cell."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        ctx.at(first + i)
        line = lines[i]
        m = _FENCE_OPEN.match(line)
        if m and _DIRECTIVE.match(m["rest"]):
            name, arg, options, body, i = _split_directive(lines, i, ctx)
            if name == "literalinclude":
                out += literalinclude(arg, options, ctx)
            elif name == "figure":
                out += figure(arg, options, body, ctx)
            elif name in _ADMONITIONS:
                # the closing fence is lines[i - 1]; the body ends just before it
                out += admonition(name, arg, options, body, ctx, first + i - 1 - len(body))
            elif name == "math":
                label = options.get("label") or options.get("name")
                tex = "\n".join(body)
                if label:
                    tex += f" \\tag{{{ctx.equations[label]}}}"
                out += [f'<a id="{label}"></a>' if label else "", "$$", tex, "$$"]
            else:
                raise ctx.fail(f"the directive {{{name}}}")
            continue
        if m:  # an ordinary fenced code block: copy it untouched
            fence = m["fence"]
            closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
            out.append(line)
            i += 1
            while i < len(lines) and not closing.match(lines[i]):
                out.append(lines[i])
                i += 1
            if i < len(lines):
                out.append(lines[i])
            i += 1
            continue
        t = _TARGET.match(line)
        if t:
            out.append(f'<a id="{t["label"]}"></a>')
            i += 1
            continue
        out.append(convert_inline(line, ctx))
        i += 1
    return out


# Marks where an equation's anchor goes, so that numbering the equations keeps every line where
# it was in the .md (error messages give line numbers) until the anchors are put in at the end.
_ANCHOR = re.compile("\x00(?P<label>[^\x00]+)\x00")


def _number_equations(text: str, ctx: Context) -> str:
    def tag(m: re.Match) -> str:
        label = m["label"]
        n = ctx.equations[label]
        return f'\x00{label}\x00$${m["body"].rstrip()} \\tag{{{n}}}$$'
    return _LABELLED_MATH.sub(tag, text)


def scan(markdown_cells: list[str], ctx: Context) -> None:
    """First pass: number the chapter's figures and equations, title its section labels."""
    for source in markdown_cells:
        lines = source.splitlines()
        for i, line in enumerate(lines):
            m = _FENCE_OPEN.match(line)
            d = _DIRECTIVE.match(m["rest"]) if m else None
            if d and d["name"] == "figure":
                ctx.figure_count += 1
            if d and d["name"] in ("figure", "math"):
                j = i + 1
                while j < len(lines) and _OPTION.match(lines[j]):
                    o = _OPTION.match(lines[j])
                    if o["key"] in ("name", "label"):
                        if d["name"] == "figure":
                            ctx.figures[o["value"].strip()] = ctx.figure_count
                        else:
                            ctx.equations.setdefault(o["value"].strip(), len(ctx.equations) + 1)
                    j += 1
            t = _TARGET.match(line)
            if t:
                h = next((_HEADING.match(x) for x in lines[i + 1:] if x.strip()), None)
                ctx.sections[t["label"]] = h["title"] if h else t["label"]
        for m in _LABELLED_MATH.finditer(source):
            ctx.equations.setdefault(m["label"], len(ctx.equations) + 1)


def convert(source: str, ctx: Context) -> str:
    """One markdown cell of MyST -> Jupyter Markdown.

    Set ``ctx.cell_line`` to the cell's first line in the .md first, so errors name the line.
    """
    text = _number_equations(source, ctx)
    text = "\n".join(convert_lines(text.splitlines(), ctx))
    text = _ANCHOR.sub(lambda m: f'<a id="{m["label"]}"></a>\n', text)
    left = LEFTOVER.search(text)
    if left:
        at = source.find(left[0].strip())
        ctx.at(source.count("\n", 0, at) if at >= 0 else 0)
        raise ctx.fail(f"markup left after conversion: {left[0]!r}")
    return text
