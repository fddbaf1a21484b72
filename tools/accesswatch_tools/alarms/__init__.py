"""Operations: the template's alarm definitions, a CloudWatch alarm evaluator and EMF parsing.

Pure (no AWS access): ``accesswatch_tools.embedded.metrics`` feeds it the metrics the embedded runtime's
functions published, and ``accesswatch alarms`` shows the result (on AWS, CloudWatch's own).
"""
