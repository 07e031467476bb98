"""Documents -> OpenSearch: the `_bulk` wire format, signed HTTP, retries, the safe form, the dead letter."""
