"""Test integrations: the pytest plugin (``rec.testing.plugin``) and the Codex harness's mount API
(``rec.testing.mock``)."""
