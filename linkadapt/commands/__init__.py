"""The ``linkadapt`` subcommands: ``linkadapt NAME`` is the module ``NAME`` with ``-`` as ``_``.

Each module exposes ``add_arguments(parser)`` and ``run(args) -> int``; the work itself
lives in the library (``training``, ``xapp``), so a command is parse -> run -> print.
"""
