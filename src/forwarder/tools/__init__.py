"""Local commands: `forwarder invoke | encode | replay | bench`, each calling the pipeline."""
