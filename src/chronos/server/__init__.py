"""The Chronos service: HTTP API, store and engine. Needs the ``server`` extra."""
