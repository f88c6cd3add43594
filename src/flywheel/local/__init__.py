"""The laptop stack: moto server with the stack's resources, and the local fronts for what AWS runs."""
