"""storyapp: a Flask app that writes, revises and exports long stories,
with the heavy work run as background jobs in jobd (see docs/storyapp.md).
"""

__version__ = "1.0.0"


def create_app(*args, **kwargs):  # type: ignore[no-untyped-def]
    """Build the Flask app (see :func:`storyapp.web.create_app`)."""
    from .web import create_app as _create_app
    return _create_app(*args, **kwargs)
