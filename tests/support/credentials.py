"""Third-party credentials shaped exactly as their issuers make them, all made up (none was ever live).

A coding agent's `cat .env` brings these to the model as a tool's output; the tests send
them through the recorder and look for them, or for any piece of them, on disk.
"""

from __future__ import annotations

import base64
import json


def _part(value: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


CREDENTIALS = {
    "AWS Access Key": "AKIA" + "Z7QK3M9XW2PL4RTB",
    "GitHub Token": "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    "GitHub Fine-Grained Token": "github_pat_" + "11ABCDEFG0123456789abc_" + "Xy7Kq2Lm9Np4Rs6Tv8Wz" * 3,
    "GitLab Token": "glpat-" + "Xy9zAb3CdEf5GhIj7KlM",
    "Slack Token": "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "Stripe Access Key": "sk_live_" + "51H8aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789abcdefGHIJ",
    "Google API Key": "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "JSON Web Token": _part({"alg": "HS256", "typ": "JWT"}) + "." + _part({"sub": "svc-deploy", "iat": "1"})
    + ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "Private Key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1c7Pad7OejecsQ0bu3aumWv9z5\n"
                   "Z3hYvNqHvJ0b0gC9XyQ8mL2kT4wR7pE1sN6uD3fG5hJ0aB\n-----END RSA PRIVATE KEY-----",
}
# Pieces that would give a credential away even when it is not whole: the private key's base64 lines.
PIECES = ("MIIEowIBAAKCAQEA1c7", "Z3hYvNqHvJ0b0gC9", "Z7QK3M9XW2PL4RTB", "a1B2c3D4e5F6g7H8")
ENV_FILE = "\n".join([
    "# .env",
    f"AWS_ACCESS_KEY_ID={CREDENTIALS['AWS Access Key']}",
    f"GITHUB_TOKEN={CREDENTIALS['GitHub Token']}",
    f"GH_FINE_GRAINED={CREDENTIALS['GitHub Fine-Grained Token']}",
    f"GITLAB_TOKEN={CREDENTIALS['GitLab Token']}",
    f"SLACK_BOT_TOKEN={CREDENTIALS['Slack Token']}",
    f"STRIPE_SECRET_KEY={CREDENTIALS['Stripe Access Key']}",
    f"GOOGLE_API_KEY={CREDENTIALS['Google API Key']}",
    f"SERVICE_JWT={CREDENTIALS['JSON Web Token']}",
    f"DEPLOY_KEY=\"{CREDENTIALS['Private Key']}\"",
    "DEBUG=true",
    "API_BASE=https://status.api.openai.com/v1",
])
