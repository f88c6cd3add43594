"""Flywheel: the library every deployment unit imports."""
