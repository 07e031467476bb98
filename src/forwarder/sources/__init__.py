"""What reaches the Lambda: awslogs payloads, and Kinesis batches of them."""
