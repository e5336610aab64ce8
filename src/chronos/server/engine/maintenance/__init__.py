"""Maintenance services: the lease rescuer and the pruner."""
