"""The ``spoolscribe`` command line: a click group (``runner.cli.main``) whose subcommands are
imported by name when used."""
