"""Reading inputs (NIfTI, DICOM) and writing outputs atomically."""
