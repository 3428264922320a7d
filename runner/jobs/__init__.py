"""Job operations shared by the web, the CLI and the daemons: submitting, cancelling, retrying and
deleting jobs, their views, endings, retention, metrics and webhook records."""
