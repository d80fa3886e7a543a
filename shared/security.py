"""API keys: their format, and the keyed hash that is all the database keeps of them.

A key is `llm_` followed by 43 characters of URL-safe base64 (256 random bits). The database
holds HMAC-SHA256(API_KEY_HASH_SECRET, key): it can be looked up by equality (an index), and a
copy of the database is useless without the secret. The final comparison is constant-time.
"""

import hashlib
import hmac
import secrets

KEY_PREFIX = "llm_"
SHOWN_PREFIX_LENGTH = 12  # "llm_" and 8 characters, to tell keys apart in a list


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(secret: str, key: str) -> str:
    return hmac.new(secret.encode(), key.encode(), hashlib.sha256).hexdigest()


def shown_prefix(key: str) -> str:
    return key[:SHOWN_PREFIX_LENGTH]


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def looks_like_key(value: str) -> bool:
    return value.startswith(KEY_PREFIX) and 40 <= len(value) <= 100
