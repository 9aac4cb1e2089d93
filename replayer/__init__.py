"""The replaying side of rec: serves cassettes as a mock Responses server. Never imports mitmproxy."""
