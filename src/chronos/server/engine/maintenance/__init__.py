"""Maintenance services: the lease rescuer (and, later, the pruner)."""
