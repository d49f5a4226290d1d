"""The pure core: data types, reply parsing, the catalog, classification, diagnosis, bounce
parsing and the sans-IO SMTP conversation. Data in, data out: no sockets, no DNS, no event
loop (``tests/test_layering.py`` holds every module here to that)."""
