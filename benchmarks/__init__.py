"""The benchmarks: a command per module (`python -m benchmarks.NAME`), and what they share."""
