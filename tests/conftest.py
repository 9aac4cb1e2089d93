"""Shared test configuration; each area's fixtures live in its own folder's conftest.py."""

# The pytest plugin's own tests run inner pytest sessions.
pytest_plugins = ["pytester"]
