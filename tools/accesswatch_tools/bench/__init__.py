"""``accesswatch bench``: performance at ministry scale, measured on this machine, and what it costs on AWS.

- :mod:`.machine`: what the machine is (cores, memory, load, versions), recorded with every result;
- :mod:`.data`: the inputs: a ministry-scale day from the synthetic world generator, and a large
  gzip CSV made quickly with polars;
- :mod:`.stages`: each measured stage, run in a fresh subprocess so that its peak RSS is its own;
- :mod:`.runner`: the whole benchmark, its JSON results and the table in ``docs/performance.md``;
- :mod:`.cost`: the AWS cost model (every unit price and assumption in one place).

Never part of the test suite: speed is measured here, not asserted in tests.
"""

# What ``accesswatch bench --stages`` chooses from, in the order the benchmark runs them (runner.run).
GROUPS: dict[str, str] = {
    "ceiling": "parse ceiling of the day and of the gzip CSV (decompress + split lines)",
    "ingest": "ingest_stream + Parquet, the gzip CSV and the day",
    "detect": "the reference index compiled, the rule catalog over the day's partitions",
    "cases": "the day's cases from the real router and queue on moto",
    "pipeline": "ingest + detect in one process, the gzip CSV and the day",
    "slice": "end to end on the embedded runtime, a slice of the day",
    "e2e": "end to end on the embedded runtime, the whole day (with the day's parse ceiling)",
    "world": "`accesswatch run --in-process` on a 0.5M-event world, and that world's parse ceiling",
}
