"""spoolscribe web UI."""
