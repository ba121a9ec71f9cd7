"""Bitrix24 REST: client, limiter, auth, typed errors, settings and the Bitrix24Api seam.

Import from the modules themselves: importing the package stays cheap (settings need no HTTP).
"""
