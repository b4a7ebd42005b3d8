"""Rating (DESIGN.md sections 5-6): the catalog compiled into expressions, the rate, the charge,
and the records written to `cdr.rated` / `cdr.rejected`."""
