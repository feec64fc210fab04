"""One module per native format; each exposes ``parse_*(raw, ctx, options) -> ParseResult``."""
