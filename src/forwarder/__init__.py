"""Forward CloudWatch Logs subscription payloads to Amazon OpenSearch Service."""

__version__ = "0.1.0"
