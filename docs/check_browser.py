"""Load every built page in headless Chromium; fail on a page that does not render or an image that does not load.

Usage::

    python docs/check_browser.py [docs/_build/html]                     # check every page
    python docs/check_browser.py --screenshot OUT_DIR PAGE [PAGE ...]   # also render pages to OUT_DIR/*.png

The site is copied to a temporary folder and each page gets a small script before ``</body>`` that waits for the
page's ``load`` event and writes what the browser saw into the DOM: every ``<img>`` that did not decode
(``complete`` and ``naturalWidth == 0``), every stylesheet that did not load (its ``sheet`` is null), JavaScript
errors, and the length of the main text. Chromium's ``--dump-dom`` (with a virtual-time budget, so the load event
has fired) prints that DOM, and the script's verdict is read from it. A page fails when Chromium cannot load it,
when the verdict is missing (the page did not finish rendering), when an image or stylesheet failed, when a
JavaScript error was thrown, or when the main text is empty.

Needs Debian's ``chromium`` (``apt-get install -y chromium``) or ``$CHROMIUM`` naming a Chromium binary.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]

PROBE = """<script>
(function () {
  var errors = [];
  window.addEventListener("error", function (e) {  // script errors only: a failed image is counted below
    if (e instanceof ErrorEvent) { errors.push(String(e.message)); }
  }, true);
  window.addEventListener("load", function () {
    var images = Array.prototype.slice.call(document.images);
    var broken = images.filter(function (i) { return !i.complete || i.naturalWidth === 0; })
                       .map(function (i) { return i.getAttribute("src"); });
    var sheets = Array.prototype.slice.call(document.querySelectorAll('link[rel="stylesheet"]'));
    var unstyled = sheets.filter(function (l) { return !l.sheet; })
                         .map(function (l) { return l.getAttribute("href"); });
    var main = document.querySelector("article") || document.body;
    var verdict = {images: images.length, broken_images: broken, failed_stylesheets: unstyled, errors: errors,
                   text: (main.innerText || "").trim().length};
    var out = document.createElement("pre");
    out.id = "hwenvs-browser-check";
    out.textContent = JSON.stringify(verdict);
    document.body.appendChild(out);
  });
})();
</script>
"""

VERDICT = re.compile(r'<pre id="hwenvs-browser-check">(.*?)</pre>', re.S)


def chromium() -> str:
    """The Chromium binary: ``$CHROMIUM``, or ``chromium`` / ``chromium-browser`` on ``PATH``."""
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)  # type: ignore[return-value]
    raise SystemExit("no Chromium found: apt-get install -y chromium, or set $CHROMIUM")


def _run(args: list[str], profile: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def check_page(page: Path, profile: Path) -> list[str]:
    """The problems Chromium finds on one (probed) page; empty when it renders with every image and stylesheet."""
    try:
        # Sphinx's search page is empty until its script answers a query: ask one, which checks the search too
        url = page.as_uri() + ("?q=quantization" if page.name == "search.html" else "")
        done = _run(["--virtual-time-budget=15000", "--dump-dom", url], profile)
    except subprocess.TimeoutExpired:
        return ["Chromium did not finish loading the page"]
    match = VERDICT.search(done.stdout)
    if done.returncode != 0 or not match:
        tail = (done.stderr or "").strip().splitlines()[-3:]
        return [f"did not render (exit {done.returncode}): {' | '.join(tail)}"]
    verdict = json.loads(html.unescape(match.group(1)))
    problems = [f"image failed to load: {src}" for src in verdict["broken_images"]]
    problems += [f"stylesheet failed to load: {href}" for href in verdict["failed_stylesheets"]]
    problems += [f"JavaScript error: {error}" for error in verdict["errors"]]
    if verdict["text"] == 0:
        problems.append("the page shows no text")
    return problems


def probed_copy(site: Path, into: Path) -> list[Path]:
    """Copy ``site`` into ``into`` with :data:`PROBE` before every page's ``</body>``; the copied pages."""
    shutil.copytree(site, into)
    pages = sorted(into.rglob("*.html"))
    for page in pages:
        text = page.read_text(encoding="utf-8")
        cut = text.rfind("</body>")
        page.write_text(text[:cut] + PROBE + text[cut:] if cut >= 0 else text + PROBE, encoding="utf-8")
    return pages


def screenshot(page: Path, out: Path, profile: Path, width: int = 1280, height: int = 2400) -> None:
    """Render ``page`` (as built, no probe) to the PNG ``out``."""
    done = _run([f"--window-size={width},{height}", f"--screenshot={out}", page.as_uri()], profile)
    if done.returncode != 0 or not out.is_file():
        raise SystemExit(f"screenshot of {page} failed: {done.stderr.strip()[-500:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("site", nargs="?", type=Path, default=Path(__file__).resolve().parent / "_build" / "html")
    parser.add_argument("--screenshot", nargs="+", metavar=("OUT_DIR", "PAGE"), help="render PAGEs into OUT_DIR")
    parser.add_argument("--jobs", type=int, default=2, help="pages loaded at a time (default: 2)")
    args = parser.parse_args(argv)
    site = args.site.resolve()
    with tempfile.TemporaryDirectory(prefix="hwenvs-browser-") as tmp:
        if args.screenshot:
            out_dir, pages = Path(args.screenshot[0]), args.screenshot[1:]
            out_dir.mkdir(parents=True, exist_ok=True)
            for i, name in enumerate(pages):
                out = out_dir / (name.replace("/", "_").removesuffix(".html") + ".png")
                screenshot(site / name, out.resolve(), Path(tmp) / f"profile-shot-{i}")
                print(f"{out}")
            return 0
        pages = probed_copy(site, Path(tmp) / "site")
        if not pages:
            print(f"{site}: no HTML pages (build the site first)", file=sys.stderr)
            return 1

        def one(item: tuple[int, Path]) -> tuple[Path, list[str]]:
            i, page = item
            return page, check_page(page, Path(tmp) / f"profile-{i % max(args.jobs, 1)}-{i}")

        with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
            results = list(pool.map(one, enumerate(pages)))
        failed = 0
        for page, problems in results:
            for problem in problems:
                print(f"{page.relative_to(Path(tmp) / 'site')}: {problem}", file=sys.stderr)
            failed += bool(problems)
        images = sum(1 for _ in site.rglob("*.png"))
        print(f"{len(pages)} pages loaded in headless Chromium ({images} PNG files in the site): {failed} failed")
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
