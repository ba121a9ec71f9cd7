"""The terminal channel: the engine's events printed as lines of text (``helpbot operator``).

``handlers.terminal.channel`` holds :class:`~handlers.terminal.channel.TerminalChannel`; the
commands that drive it (``helpbot chat``, ``helpbot operator``) live in ``handlers.cli``.
"""
