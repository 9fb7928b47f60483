"""The Jinja2 environment every HTML output of cnmri is rendered through.

Templates live in ``cnmri/report/templates/`` and are loaded from the installed package, so rendering
needs no network and no files outside the package. Autoescaping is on for every ``.html`` template:
findings, DICOM descriptions and clinical files are untrusted, and a value only reaches the page
unescaped when the Python side wraps it in :class:`markupsafe.Markup` on purpose (the stylesheet, and
fragments that were themselves rendered from these templates).

Values are escaped with :func:`html.escape` (``&quot;`` and ``&#x27;`` for quotes) rather than
MarkupSafe's numeric entities (``&#34;``, ``&#39;``). Both are safe; this keeps the pages byte-for-byte
equal to what cnmri wrote before templates, so downstream tools that search them keep working.
"""

from __future__ import annotations

import base64
import html
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_eval_context, select_autoescape
from jinja2.nodes import EvalContext
from markupsafe import Markup

#: The stylesheet of report.html, a package file inlined into the page (the report stays one file).
STYLESHEET = "report.css"


@pass_eval_context
def _escape_like_html_module(eval_ctx: EvalContext, value: object) -> object:
    """Escape every printed value as :func:`html.escape` does; Markup passes through untouched."""
    if not eval_ctx.autoescape or isinstance(value, Markup) or hasattr(value, "__html__"):
        return value
    return Markup(html.escape(str(value), quote=True))


@cache
def environment() -> Environment:
    """The shared environment (built once): package templates, autoescape for .html, strict undefined."""
    env = Environment(
        loader=PackageLoader("cnmri.report", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True, default=True),
        undefined=StrictUndefined,  # a misspelt variable fails loudly instead of printing nothing
        finalize=_escape_like_html_module,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["png_data_uri"] = png_data_uri
    return env


def render(template: str, **context: Any) -> str:
    """Render one package template with ``context``."""
    return environment().get_template(template).render(**context)


@cache
def stylesheet(name: str = STYLESHEET) -> Markup:
    """A stylesheet of the package (default ``report.css``), trusted and ready to inline in ``<style>``."""
    text = resources.files("cnmri.report").joinpath("templates", name).read_text(encoding="utf-8")
    if "</style" in text.lower():  # would end the <style> element early
        raise ValueError(f"{name} must not contain '</style'")
    return Markup(text)


def png_data_uri(png: bytes) -> str:
    """A ``data:`` URI for PNG bytes (the report embeds its figures so it works offline)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


__all__ = ["STYLESHEET", "environment", "png_data_uri", "render", "stylesheet"]
