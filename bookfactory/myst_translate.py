"""Apply a page's catalogue to its MyST source: the Chinese notebooks' markdown.

Sphinx translates the book on its document tree, but the notebooks are built from
the MyST text (``bookfactory/sync_notebooks.py`` -> ``bookfactory/myst_markdown.py``), so the
same messages must be found in that text. A message (msgid) is the source of one
block -- a paragraph, heading, list item, table cell, caption or admonition
title -- with its line breaks turned into spaces and the block's own markers
(``#``, ``*``, ``1.``, ``|``, indentation) left out. So a msgid is found as its
words separated by any white space, standing alone between those markers and the
end of a line (or a table cell's ``|``), and replaced by its msgstr on one line.
Fenced code is never touched. Longer messages are replaced first, so a short one
("budget") cannot match inside a longer paragraph.

    python -m bookfactory.myst_translate chapters/lenet.md    # print the Chinese MyST, name misses
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATALOGUES = ROOT / "locales" / "zh_CN" / "LC_MESSAGES"

# What may stand before a block's text on its line: indentation, heading/list/quote markers;
# or a table cell's "|"; or the directive name of an admonition whose argument is its title.
_LEAD = (r"(?P<lead>^[ \t]*(?:(?:\#{1,6}|[*+-]|\d+[.)]|>)[ \t]+)*"
         r"|(?<=\|)[ \t]*|(?<=\{admonition\})[ \t]+|(?<=^:alt:)[ \t]+)")
_TRAIL = r"(?=[ \t]*(?:\||$))"
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*(.*)$")
# Directives whose content is prose (searched for messages); any other fence holds code.
_PROSE_DIRECTIVES = re.compile(r"^\{(admonition|figure|note|warning|tip|important|caution|"
                               r"attention|hint|seealso|dropdown|margin|epigraph)\}")

def load_messages(page: str) -> dict[str, str]:
    """msgid -> msgstr of a page's catalogue: translated, not fuzzy, not the same as the
    English (unchanged maths, names)."""
    from sphinx_intl import catalog

    path = CATALOGUES / f"{page}.po"
    if not path.exists():
        return {}
    return {m.id: m.string for m in catalog.load_po(str(path))
            if m.id and m.string and "fuzzy" not in m.flags and m.string != m.id}


def _pattern(msgid: str) -> re.Pattern:
    words = [re.escape(w) for w in msgid.split()]
    return re.compile(_LEAD + r"\s+".join(words) + _TRAIL, re.M)


@dataclass
class Translator:
    """Translates markdown cells of one page, remembering which messages it found."""
    messages: dict[str, str]
    found: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        ordered = sorted(self.messages, key=len, reverse=True)
        self._patterns = [(msgid, _pattern(msgid)) for msgid in ordered]

    def _prose(self, text: str) -> str:
        for msgid, pattern in self._patterns:
            if msgid.split()[0] not in text:  # cheap pre-check before the regex
                continue
            text, n = pattern.subn(
                lambda m, msgid=msgid: m["lead"] + self._one_line(msgid, m), text)
            if n:
                self.found.add(msgid)
        return text

    def _one_line(self, msgid: str, m: re.Match) -> str:
        # Display maths (whose prose words in \text{...} are translated) keeps its lines, as
        # an aligned environment needs them; a table cell cannot hold a line break, and
        # elsewhere the msgstr is one block.
        if "\n" in msgid:
            return self.messages[msgid].strip("\n")
        return self.messages[msgid].replace("\n", " ")

    def __call__(self, source: str) -> str:
        """The cell's MyST with every message of the catalogue replaced by its translation."""
        out: list[str] = []
        prose: list[str] = []
        directives: list[str] = []  # the open prose directives' fences, innermost last
        code = None  # the fence of the code block we are in
        for line in source.split("\n"):
            m = _FENCE.match(line)
            if code is not None:
                out.append(line)
                if m and not m[2] and m[1][0] == code[0] and len(m[1]) >= len(code):
                    code = None
                continue
            if m and not m[2] and directives and m[1][0] == directives[-1][0] \
                    and len(m[1]) >= len(directives[-1]):
                directives.pop()
            elif m and _PROSE_DIRECTIVES.match(m[2]):
                directives.append(m[1])
            elif m:
                if prose:
                    out += self._prose("\n".join(prose)).split("\n")
                    prose = []
                code = m[1]
                out.append(line)
                continue
            prose.append(line)
        if prose:
            out += self._prose("\n".join(prose)).split("\n")
        return "\n".join(out)

    def missed(self) -> list[str]:
        """Messages of the catalogue never found in the text translated so far."""
        return sorted(set(self.messages) - self.found)


def main(argv: list[str]) -> int:
    import jupytext

    md = Path(argv[0]).resolve()
    page = md.relative_to(ROOT).with_suffix("").as_posix()
    translate = Translator(load_messages(page))
    nb = jupytext.read(md)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            print(translate(cell.source), end="\n\n")
    for msgid in translate.missed():
        print(f"not found in {md.name}: {msgid[:80]!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
