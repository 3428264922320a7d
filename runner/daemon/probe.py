"""The web's upload check, run as a child process: ``python -m runner.daemon.probe FILE``.

FFmpeg parses untrusted bytes here, in a short-lived process of its own (see ``webui.probe``):
exit 0 and ``{"duration": seconds|null}`` on stdout, or exit 3 (``REFUSED``) and the reason on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from runner.daemon.media import MediaError, probe

REFUSED = 3  # exit status for a file that is not usable media


def main(argv: list[str]) -> int:
    """Probe ``argv[1]``; print ``{"duration": seconds|null}`` and return 0, or print the reason and
    return ``REFUSED``."""
    try:
        duration = probe(Path(argv[1]))
    except MediaError as exc:
        print(exc)
        return REFUSED
    print(json.dumps({"duration": duration}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
