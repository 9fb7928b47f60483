"""Preprocessing: bias correction, pre↔post co-registration, subject→template registration."""
