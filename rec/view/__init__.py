"""`rec view`: cassettes, and what a replay of them saw, as one page in the browser (docs/view.md)."""
