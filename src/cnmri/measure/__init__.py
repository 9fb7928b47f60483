"""Per-segment measurements: ROIs from warped centrelines, enhancement, thickness, asymmetry, z."""
