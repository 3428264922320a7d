"""The shared-folder inbox: ``spoolscribe ingest`` turns every complete file dropped into a
watched folder into exactly one job, and places the results next to it.

Modules: ``rules`` (which names are ignored), ``folders`` (per-folder ``.spoolscribe.toml``),
``stability`` (the quiet period), ``ledger`` (the exactly-once record), ``delivery`` (a stable file
into the spool), ``watcher`` (watchdog: inotify or polling), ``problems`` (log a problem once) and
``daemon`` (the loop). Where inbox jobs' outputs and error files go is ``runner.output.inbox``; the
command is ``runner.cli.ingest``.
"""
