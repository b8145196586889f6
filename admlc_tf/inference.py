"""Kept so that imports written before `admlc_tf.serving` keep working: audio tagging is
`admlc_tf.serving.audio`, the dispatch on an export's input `admlc_tf.serving.tagging`."""

from admlc_tf.serving.audio import (TFLiteSegments, find_audio, read_clip,  # noqa: F401
                                    rest_request_body, segment_predictor, tag_audio)
from admlc_tf.serving.outputs import format_tags  # noqa: F401
from admlc_tf.serving.tagging import tag_files  # noqa: F401
