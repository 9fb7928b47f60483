"""Reports: JSON, TSV, HTML, figures and follow-up comparison."""
