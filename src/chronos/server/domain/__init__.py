"""The domain core: statuses and their transitions, timing, retry rules, row shapes and the
rules that build and finish jobs. Pure: nothing here touches a database or knows about HTTP,
and time always comes in as an argument (only new ids are minted from wall time, to sort by
creation), so every rule is tested without I/O; the store, the services, the engine and the
API all build on it.
"""
