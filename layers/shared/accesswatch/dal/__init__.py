"""Data access: the only place that talks to AWS (S3, DynamoDB, Step Functions).

Domain modules never import boto3; handlers wire these small classes to them.
"""
