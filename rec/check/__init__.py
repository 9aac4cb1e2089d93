"""`rec check`: rules a folder of cassettes must keep (well-formed streams, no secrets, not stale, size)."""
