"""The one structured JSON logger (Powertools) every module writes to."""

from __future__ import annotations

import logging
import sys

from aws_lambda_powertools import Logger

SERVICE = "cwl-opensearch-forwarder"

# Level from POWERTOOLS_LOG_LEVEL / LOG_LEVEL (Powertools reads them), INFO otherwise.
logger = Logger(service=SERVICE)


def log_to_stderr() -> None:
    """Local commands keep stdout for their output (e.g. the NDJSON of --dry-run)."""
    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(sys.stderr)
