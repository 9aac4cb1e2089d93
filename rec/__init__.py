"""rec: record and replay OpenAI Responses API traffic for tests."""

__version__ = "0.1.0"
