"""The cranial nerve atlas: centerlines with radii in MNIColin27 millimetres (DESIGN.md §3)."""

from cnmri.atlas.model import (
    NERVES,
    Atlas,
    ReferenceRegion,
    Segment,
    Side,
    load_atlas,
)

__all__ = ["NERVES", "Atlas", "ReferenceRegion", "Segment", "Side", "load_atlas"]
