"""Why was I rejected: SPF (RFC 7208), DMARC, DKIM logic over an injected DNS query (pure),
the report's types and which finding explains a refusal (pure), and ``checks``, which runs
them concurrently over DNS."""
