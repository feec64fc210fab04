"""Signed JSON webhooks (HMAC-SHA256 over timestamp + body)."""
