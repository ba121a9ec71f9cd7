"""The help center: the knowledge base as web pages under ``/kb/`` of the one web app."""

from handlers.helpcenter.routes import HELPCENTER, setup_helpcenter

__all__ = ["HELPCENTER", "setup_helpcenter"]
