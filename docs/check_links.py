"""Fail on any internal link or image of the built site that does not resolve to a file (and anchor).

Usage: ``python docs/check_links.py [docs/_build/html]``. Every ``href`` and ``src`` of every built HTML page that is
not external (``http:``, ``https:``, ``mailto:``...) must name a file inside the site; an ``#anchor`` into an HTML page
must name an ``id`` on that page. Sphinx's own checks (``-W`` and ``nitpicky``) catch references it resolves; this
catches what it only copies, such as a Markdown link to a file that the build does not hold, or an image included from
a results file that is missing. Exit code 1 with one line per broken link, 0 when all resolve.
"""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

EXTERNAL = ("http", "https", "mailto", "ftp", "data", "javascript", "tel")


class _Links(HTMLParser):
    """Collects the ``href``/``src`` values and the ``id``/``name`` anchors of one page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("href", "src") and not (tag == "link" and ("rel", "preconnect") in attrs):
                self.links.append((tag, value))
            elif name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value)


def _parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8", errors="replace"))
    return parser


def broken_links(site: Path) -> list[str]:
    """Every internal link of ``site``'s HTML pages that does not resolve, as ``page: <tag> link (why)``."""
    site = site.resolve()
    pages = sorted(site.rglob("*.html"))
    if not pages:
        return [f"{site}: no HTML pages (build the site first)"]
    parsed = {page: _parse(page) for page in pages}
    problems = []
    for page, links in parsed.items():
        for tag, link in links.links:
            parts = urlsplit(link)
            if parts.scheme in EXTERNAL or parts.netloc or link.startswith("//"):
                continue
            if parts.scheme:
                problems.append(f"{page.relative_to(site)}: <{tag}> {link} (unknown scheme)")
                continue
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            where = f"{page.relative_to(site)}: <{tag}> {link}"
            if site not in target.parents and target != site:
                problems.append(f"{where} (outside the site)")
            elif not target.is_file():
                problems.append(f"{where} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    problems.append(f"{where} (no id {parts.fragment!r} on {target.relative_to(site)})")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    site = Path(args[0]) if args else Path(__file__).resolve().parent / "_build" / "html"
    problems = broken_links(site)
    for problem in problems:
        print(problem, file=sys.stderr)
    pages = len(list(site.rglob("*.html")))
    print(f"{pages} pages checked: {len(problems)} broken internal link(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
