"""The engine: background services that move jobs through their states."""
