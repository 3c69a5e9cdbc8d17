"""The reading room's pages: Jinja templates shipped with the package, every value escaped.

No script, no inline style, nothing from elsewhere: the stylesheet is the room's own
(`/static/room.css`), as the Content-Security-Policy in connectors.room.guard demands.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import jinja2
from fastapi.responses import HTMLResponse

from connectors.room.guard import HEADERS

__all__ = ["render", "stylesheet"]


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("connectors.room", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """A page, with the room's headers."""
    html = _environment().get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


@functools.cache
def stylesheet() -> str:
    """The room's only stylesheet."""
    return (resources.files("connectors.room") / "templates" / "room.css").read_text("utf-8")
