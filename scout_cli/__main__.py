"""``python -m scout_cli`` is ``scout``."""

from scout_cli import main

main()
