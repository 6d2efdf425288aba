"""All queries live here, one module per aggregate. Repositories flush, never commit."""
