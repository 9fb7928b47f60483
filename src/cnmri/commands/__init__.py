"""Subcommands of the ``cnmri`` CLI, one module each (see :mod:`cnmri.cli`)."""
