"""The portal's HTML pages: one shell (``web/shell.html``: the head every page shares,
the bar with the title, the language switch and sign-out) around each page's own part.

A page file (``index.html``, ``patient.html``, ``hospital.html``, ``operator.html``; and
``phone.html``, the frame of the phone-first three) holds what it adds to the head (its
style and script), then a line ``<!-- body -->``, then its body. Static text put
together per request: no template language, nothing from the request goes
in, so the CSP and the rule of no inline script hold for every page.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from shared.errors import NotFound

MARK = "<!-- body -->"
SCREENS = "<!-- screens -->"


def _parts(web: Path, name: str) -> tuple[str, str]:
    head, _, body = (web / f"{name}.html").read_text(encoding="utf-8").partition(MARK)
    return head.strip(), body.strip()


def page_html(web: Path, name: str, phone: bool = False) -> str:
    """The page ``web/<name>.html`` in the shell; the body's class is ``name``. A
    phone-first page (class ``phone`` too) is in ``web/phone.html`` first: its style
    (``static/common/phone.css``), the tabs, ``main`` and the session's message."""
    head, body = _parts(web, name)
    if phone:
        frame_head, frame = _parts(web, "phone")
        head, body = frame_head + "\n" + head, frame.replace(SCREENS, body)
    shell = (web / "shell.html").read_text(encoding="utf-8")
    return (
        shell.replace("{page}", f"{name} phone" if phone else name)
        .replace("<!-- head -->\n", head + "\n")
        .replace("<!-- main -->\n", body + "\n")
    )


def page_response(request: Request, name: str, phone: bool = False) -> HTMLResponse:
    return HTMLResponse(page_html(request.app.state.web, name, phone))


def serve_page(pages: APIRouter, base: str, name: str, screens: tuple[str, ...]) -> None:
    """``base``, ``base/`` and ``base/<screen>`` serve the phone-first page ``name`` (it
    shows the screen its address names); another screen is 404."""

    @pages.get(base)
    @pages.get(base + "/")
    async def home(request: Request) -> HTMLResponse:
        return page_response(request, name, phone=True)

    @pages.get(base + "/{screen}")
    async def screen(screen: str, request: Request) -> HTMLResponse:
        if screen not in screens:
            raise NotFound("no such page")
        return page_response(request, name, phone=True)
