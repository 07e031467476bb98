"""CloudFormation custom resources: the ISM policy and index template, the subscription filters."""
