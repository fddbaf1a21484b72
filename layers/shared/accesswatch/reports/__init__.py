"""Quarterly governance and OIA tables: counting, withholding small counts, and writing the release.

Pure logic (no AWS): ``build.build_report`` turns cases, findings and users into a ``model.Report``;
``disclosure`` withholds small counts so none can be recovered; ``render`` writes CSV, JSON and XLSX.
Loading the inputs from a deployment is ``accesswatch.services.report``.
"""
