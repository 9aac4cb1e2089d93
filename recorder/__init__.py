"""The recording side of rec: a mitmproxy addon that writes cassettes (needs `responses-rec[record]`)."""
