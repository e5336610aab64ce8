"""Chronos: a self-hostable job scheduler.

This package is the client side (SDK and CLI). It imports nothing from the server, so
``pip install chronos-scheduler`` is enough to talk to a Chronos service. The server lives in
``chronos.server`` and needs the ``server`` extra.
"""

from chronos.errors import ChronosError

__all__ = ["ChronosError", "__version__"]
__version__ = "0.1.0"
