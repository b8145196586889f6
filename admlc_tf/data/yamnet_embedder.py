"""YAMNet as an embeddings backbone: a 16 kHz clip -> the mean of its 1,024-d embeddings over
YAMNet's 0.96 s patches every 0.48 s (the clip padded to whole patches as the reference pads,
`yamnet.tag_waveform`). The export's segment is `--model yamnet`'s chunk, 3.855 s: exactly 7
patches and no padding, so a segment is embedded as a clip of that length is."""

from __future__ import annotations

from admlc_tf.data.embedders import Embedder


class YamnetEmbedder(Embedder):
    """A 16 kHz waveform -> its clip embedding `[1024]` (mean over YAMNet's patches).

    Args:
      weights: "audioset", a yamnet.h5 path or "random" (`yamnet_transfer.build_backbone`).
        A random YAMNet's embeddings are all close to 0 (its activations die out through the
        14 blocks): it shows the pipeline runs, not what a head learns.
    """

    name = "yamnet"
    pooling = "mean over 0.96 s patches every 0.48 s"

    def __init__(self, weights: str):
        from admlc_tf.predictors import yamnet
        from admlc_tf.predictors.yamnet_transfer import build_backbone

        model = build_backbone(weights)
        front_end = yamnet.YamnetMel(name="yamnet_mel")
        super().__init__(weights, model, yamnet.EMBEDDING_DIMS, yamnet.SAMPLE_RATE,
                         lambda w: yamnet.tag_waveform(model, w, front_end)["embeddings"])

    @staticmethod
    def check_weights(weights: str) -> None:
        from admlc_tf.predictors.yamnet_transfer import check_weights

        check_weights(weights)

    @staticmethod
    def segment_features():
        from admlc_tf.config import FeatureConfig
        from admlc_tf.predictors.yamnet_transfer import yamnet_features

        return yamnet_features(FeatureConfig())

    def segment_model(self, predictor):
        """YAMNet log mel of one segment (384 frames) -> the fitted model's outputs: its 7
        patches through the backbone's embedding, their mean, then `predictor` (the layers of
        `--model yamnet`'s tagger, so the two exports cut and pool alike)."""
        import keras

        from admlc_tf.predictors import yamnet
        from admlc_tf.predictors.yamnet_transfer import PatchFrames, PatchMean

        embedding = keras.Model(self.model.input, self.model.get_layer("embeddings").output,
                                name="yamnet_backbone")
        mel = keras.Input((None, yamnet.N_MELS), name="features")
        patches = embedding(PatchFrames(name="yamnet_patches")(mel), training=False)
        outputs = predictor(PatchMean(name="yamnet_patch_mean")(patches, mel))
        return keras.Model(mel, outputs, name="predictor")
