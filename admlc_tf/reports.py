"""Kept so that imports written before `admlc_tf.metrics.reports` keep working."""

from admlc_tf.metrics.reports import format_tagging_table, tagging_report  # noqa: F401
