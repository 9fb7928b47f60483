"""Phantom lab: synthetic cranial-nerve pathology on a real head, and its scoring."""

from cnmri.phantom.generator import (
    LesionSpec,
    PhantomCase,
    PhantomSpec,
    Realism,
    demo_spec,
    generate_case,
    write_case,
)

__all__ = ["LesionSpec", "PhantomCase", "PhantomSpec", "Realism", "demo_spec", "generate_case", "write_case"]
