"""Everything that talks to Command Code: envelope, NDJSON decoding, events, the HTTP client."""
