"""Real parts and stand-ins run locally, shared by the tests, `make demo` and `make bench`.

opensearch_node: a real OpenSearch node built from Maven Central. standin: the
loopback OpenSearch stand-in (SigV4 checked, faults injected), held to the real
node by tests/test_standin_vs_real.py. payload_gen: realistic CloudWatch payloads.
reference: the Node blueprint's transform, run for parity.
"""
