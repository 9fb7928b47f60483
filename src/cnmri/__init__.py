"""cnmri: cranial nerve infiltration on MRI.

Reads a brain MRI, measures every cranial nerve segment on both sides in the template-defined
atlas warped to the subject, and reports thickening and enhancement as decision support.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cnmri")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
