"""CloudWatch log events -> documents (pure): sources, index names, `_id`s, filters."""
