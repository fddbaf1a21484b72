"""Data access: the only place in the runtime package that talks to AWS (S3, DynamoDB, Step Functions,
SQS, Lambda invokes, Athena; SNS is published by the state machines and the digest's topic class).

Domain modules and services never import boto3; handlers and the CLI wire these small classes to them.
"""
