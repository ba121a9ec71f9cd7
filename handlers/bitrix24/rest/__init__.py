"""The Bitrix24 REST client: one client per portal (auth, the leaky-bucket limit, retries,
time-outs), typed errors from the response envelope, and the ``Bitrix24Api`` seam.

Import from the modules themselves: importing the package stays cheap. Its settings section is
:class:`handlers.bitrix24.settings.BitrixSettings`, part of the one settings object.
"""
