"""Shared test configuration; each area's fixtures live in its own folder's conftest.py."""
