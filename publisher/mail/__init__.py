"""Mail: subscribers and tokens, digests, rendering and composing messages, DKIM."""
