"""The I/O edges: the SMTP session (``smtp``, executing the core's conversation), DNS
(``dns``, dnspython) and TLS certificate facts (``tls``)."""
