"""spoolscribe's non-web code, in sub-packages by role: ``core`` (shared core), ``jobs`` (job
operations), ``output`` (outputs), ``daemon`` (the runner daemon), ``ingest`` (the inbox daemon) and
``cli`` (the command line). The import rules between them are import-linter contracts in
pyproject.toml."""
