"""Finding the canonical MNIColin27 whole-head template (DESIGN.md §3)."""

from cnmri.templates.lookup import DEBIAN_COLIN27, TEMPLATE_NAME, TemplateSource, find_template, load_template

__all__ = ["DEBIAN_COLIN27", "TEMPLATE_NAME", "TemplateSource", "find_template", "load_template"]
