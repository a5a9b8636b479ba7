"""Read-only questions about drives, each answered by a few aggregate SQL queries.

One module per question; every function takes a session and plain values and returns plain
dataclasses (the web views draw them with outreach.charts). None loops over deliveries in
Python: counts are grouped in the database, so a drive of 100,000 letters costs a few indexed
scans (timings in docs/performance.md, "Admin pages: dashboard, report, delivery table").

| module | answers |
|---|---|
| `periods.py` | the time bucket of a timestamp, in SQL, on SQLite and PostgreSQL; period widths |
| `drives.py` | the dashboard: drives sending or paused with their progress, scheduled drafts |
| `timeline.py` | deliveries by state over time, per campaign and for every drive |
| `replies.py` | reply rate by political group and by country |
| `signatures.py` | supporters' signatures per day |
| `deliveries.py` | the delivery table: filters, a keyset page, its count, the filter choices |
| `exports.py` | the rows of the CSV exports (deliveries, replies, supporters), streamed |
| `drive_report.py` | the printable report's lists: the officials written to, the replies |
"""
