"""The platform's Pulumi program: config -> components -> exports (see __main__.py)."""
