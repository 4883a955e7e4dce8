"""The invitee's pages, reached only through their personal link `/r/<token>` (views in `views`)."""

from .views import bp

__all__ = ["bp"]
