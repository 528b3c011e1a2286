"""``python -m discobase.cli``: the ``discobase`` command without its console script."""

from discobase.cli import main

main()
