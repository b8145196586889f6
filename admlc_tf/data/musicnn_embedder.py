"""musicnn as an embeddings backbone: a 16 kHz clip -> the mean of its 200-d penultimate
embeddings over musicnn's 3 s patches (the mel computed over the whole clip, patches cut as
musicnn cuts them, a clip under 3 s zero-padded to one); the export's segment is one patch."""

from __future__ import annotations

from admlc_tf.data.embedders import Embedder


class MusicnnEmbedder(Embedder):
    """A 16 kHz waveform -> its clip embedding `[200]` (mean over musicnn's 3 s patches).

    Args:
      weights: "mtt", "msd", a checkpoint path or "random" (`musicnn_transfer.build_backbone`).
    """

    name = "musicnn"
    pooling = "mean over 3 s patches"

    def __init__(self, weights: str):
        from admlc_tf.predictors import musicnn
        from admlc_tf.predictors.musicnn_transfer import build_backbone

        model = build_backbone(weights)
        front_end = musicnn.MusicnnMel(name="musicnn_mel")
        super().__init__(weights, model, musicnn.EMBEDDING_DIMS, musicnn.SAMPLE_RATE,
                         lambda w: musicnn.tag_waveform(model, w, front_end)["embeddings"])

    @staticmethod
    def check_weights(weights: str) -> None:
        from admlc_tf.predictors.musicnn_transfer import check_weights

        check_weights(weights)

    @staticmethod
    def segment_features():
        from admlc_tf.config import FeatureConfig
        from admlc_tf.predictors.musicnn_transfer import musicnn_features

        return musicnn_features(FeatureConfig())

    def segment_model(self, predictor):
        """musicnn mel of one 3 s segment (188 frames) -> the fitted model's outputs: the first
        187 frames (musicnn's patch, what a clip's embedding averages) through the backbone's
        embedding, then `predictor`."""
        import keras

        from admlc_tf.predictors import musicnn

        embedding = keras.Model(self.model.input, self.model.get_layer("penultimate_bn").output,
                                name="musicnn_backbone")
        mel = keras.Input((None, musicnn.N_MELS), name="features")
        patch = keras.layers.Cropping1D((0, 1), name="musicnn_patch")(mel)
        outputs = predictor(embedding(patch, training=False))
        return keras.Model(mel, outputs, name="predictor")
