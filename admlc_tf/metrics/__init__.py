"""Reported metrics, by concern: the DCASE 2016 Task 4 EER (`eer`), multi-label F1 / ranking /
average precision (`multilabel`), choosing label sets from scores (`thresholding`) and the
reports built from them (`reports`: the tagging report, the one EER schema, and the
multi-label report). Every public name is importable from here too.
"""

from admlc_tf.metrics.eer import equal_error_rate, mean_eer, per_label_eer  # noqa: F401
from admlc_tf.metrics.multilabel import (coverage, example_f1, hamming_loss,  # noqa: F401
                                         label_ranking_average_precision, macro_f1,
                                         mean_average_precision, micro_f1, one_error,
                                         per_label_average_precision, per_label_f1,
                                         ranking_loss)
from admlc_tf.metrics.reports import (eer_report, format_eer_table,  # noqa: F401
                                      format_tagging_table, multilabel_report, tagging_report)
from admlc_tf.metrics.thresholding import binarize, eer_thresholds, tune_thresholds  # noqa: F401
