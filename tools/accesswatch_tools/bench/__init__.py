"""``accesswatch bench``: performance at ministry scale, measured on this machine, and what it costs on AWS.

- :mod:`.machine`: what the machine is (cores, memory, load, versions), recorded with every result;
- :mod:`.data`: the inputs: a ministry-scale day from the synthetic world generator, and a large
  gzip CSV made quickly with polars;
- :mod:`.stages`: each measured stage, run in a fresh subprocess so that its peak RSS is its own;
- :mod:`.runner`: the whole benchmark, its JSON results and the table in ``docs/performance.md``;
- :mod:`.cost`: the AWS cost model (every unit price and assumption in one place).

Never part of the test suite: speed is measured here, not asserted in tests.
"""
