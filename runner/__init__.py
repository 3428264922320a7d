"""spoolscribe runner: spool protocol, job store, daemons and transcription."""
