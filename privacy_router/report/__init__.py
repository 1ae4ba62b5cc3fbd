"""Reports computed from the audit log and the configuration (``privacy-router report ...``)."""
