"""The run's report as data and pictures: summary.json (summary), PNG plots (plots), the design-doc section (doc).

No pytest imports: fixtures/report*.py wire these into pytest-html and the report directory.
"""
