"""Log-mel filterbank (MFB) features: audio loading and the one feature definition.

Features are `log(mel_matrix^T |STFT|^2 + log_offset)` with a periodic Hamming window and no
centring. `mel_matrix` (librosa's Slaney filterbank) is built here once, so an in-graph front end
can reuse the very same matrix as a constant. `FeatureConfig.front_end` "musicnn" replaces the
definition by musicnn's own input (`admlc_tf.predictors.musicnn.MusicnnMel`, offline and in the
graph alike), for the pretrained backbone; "yamnet" by YAMNet's
(`admlc_tf.predictors.yamnet.YamnetMel`: Hann window of 400 in a 512-point FFT, magnitude, HTK
mel, `log(mel + 0.001)`), likewise.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import BinaryIO, Optional

import keras
import librosa
import numpy as np
import soundfile
import tensorflow as tf

from admlc_tf.config import FeatureConfig
from admlc_tf.errors import DataError, first_line

FRONT_ENDS = ("logmel", "musicnn", "yamnet")


@functools.lru_cache(maxsize=8)
def _mel_matrix(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    matrix = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    matrix = np.ascontiguousarray(matrix.T, dtype=np.float32)  # [n_fft // 2 + 1, n_mels]
    matrix.setflags(write=False)
    return matrix


@functools.lru_cache(maxsize=1)
def musicnn_mel():
    """musicnn's own front end (`admlc_tf.predictors.musicnn.MusicnnMel`), built once."""
    from admlc_tf.predictors.musicnn import MusicnnMel

    return MusicnnMel(name="musicnn_mel")


@functools.lru_cache(maxsize=1)
def yamnet_mel():
    """YAMNet's own front end (`admlc_tf.predictors.yamnet.YamnetMel`), built once."""
    from admlc_tf.predictors.yamnet import YamnetMel

    return YamnetMel(name="yamnet_mel")


# The front ends that replace the log-mel definition by a layer of their own.
OWN_LAYERS = {"musicnn": musicnn_mel, "yamnet": yamnet_mel}


def check_front_end(config: FeatureConfig) -> None:
    """Refuses an unknown front end, or musicnn's or YAMNet's with other parameters than its
    own."""
    from admlc_tf.errors import AdmlcError

    if config.front_end not in FRONT_ENDS:
        raise AdmlcError(f"features.front_end {config.front_end} is not known: use one of "
                         f"{', '.join(FRONT_ENDS)}")
    if config.front_end == "musicnn":
        from admlc_tf.predictors import musicnn

        own = {"sample_rate": musicnn.SAMPLE_RATE, "n_fft": musicnn.N_FFT,
               "hop_length": musicnn.HOP, "n_mels": musicnn.N_MELS}
        for name, value in own.items():
            if getattr(config, name) != value:
                raise AdmlcError(f"features.front_end musicnn takes features.{name} {value}, "
                                 f"not {getattr(config, name)}: leave it at musicnn's")
    if config.front_end == "yamnet":
        from admlc_tf.predictors import yamnet

        own = {"sample_rate": yamnet.SAMPLE_RATE, "n_fft": yamnet.WINDOW,
               "hop_length": yamnet.HOP, "n_mels": yamnet.N_MELS, "fmin": yamnet.FMIN,
               "fmax": yamnet.FMAX, "log_offset": yamnet.LOG_OFFSET}
        for name, value in own.items():
            if getattr(config, name) != value:
                raise AdmlcError(f"features.front_end yamnet takes features.{name} {value:g}, "
                                 f"not {getattr(config, name):g}: leave it at YAMNet's")


def silence_value(config: FeatureConfig) -> float:
    """The feature value of digital silence, which fills a clip's last scored segment."""
    return 0.0 if config.front_end == "musicnn" else float(np.log(config.log_offset))


def mel_matrix(config: FeatureConfig) -> np.ndarray:
    """Returns the `[n_fft // 2 + 1, n_mels]` mel filterbank (read-only)."""
    return _mel_matrix(config.sample_rate, config.n_fft, config.n_mels, config.fmin, config.fmax)


def log_mel_spectrogram(waveform: np.ndarray, *, config: FeatureConfig) -> np.ndarray:
    """Computes log-mel features of one waveform.

    Args:
      waveform: `[n_samples]` float audio at `config.sample_rate`, n_samples >= n_fft.
      config: the feature parameters.

    Returns:
      `[n_frames, n_mels]` float32, n_frames = 1 + (n_samples - n_fft) // hop_length (musicnn:
      1 + n_samples // hop_length).
    """
    if config.front_end in OWN_LAYERS:  # the export's very layer, so both sides agree exactly
        return OWN_LAYERS[config.front_end]()(np.asarray(waveform, np.float32)[None])[0].numpy()
    stft = librosa.stft(np.asarray(waveform, dtype=np.float32), n_fft=config.n_fft,
                        hop_length=config.hop_length, window="hamming", center=False)
    power = np.square(np.abs(stft)).T  # [n_frames, n_fft // 2 + 1]
    mel = power @ mel_matrix(config)  # [n_frames, n_mels]
    return np.log(mel + config.log_offset).astype(np.float32)


def read_audio(path: str | Path, *, sample_rate: int) -> np.ndarray:
    """Reads an audio file of any length, rate and channel count as mono at `sample_rate`.

    Decoded by soundfile (WAV, FLAC, OGG, and MP3 where the installed libsndfile reads it),
    channels averaged, then resampled once with soxr (librosa's default `soxr_hq`) when the
    file's rate differs.

    Returns:
      `[n_samples]` float32.

    Raises:
      DataError: the file is missing, truncated, not decodable audio, empty or not finite.
    """
    path = Path(path)
    with open_audio(path) as handle:
        check_wav_not_truncated(path, handle)
        handle.seek(0)
        try:
            # Read in blocks rather than all at once: soundfile.read allocates the frames the
            # header announces, and a damaged FLAC header announced 2^36 of them (256 GiB;
            # benchmarks/fuzz.py).
            with soundfile.SoundFile(handle) as f:
                rate = f.samplerate
                check_sample_rate(path, rate)
                block = max(1, min(rate, BLOCK_VALUES // max(1, f.channels)))
                pieces = []
                while True:
                    frames = f.read(block, dtype="float32", always_2d=True)
                    if not len(frames):
                        break
                    pieces.append(frames.mean(axis=1))  # [frames], channels averaged
        except (soundfile.LibsndfileError, RuntimeError, OSError, ValueError) as e:
            raise decode_error(path, e) from None
    if not pieces:
        raise DataError(f"audio file {path} holds no samples: replace it or remove it from the "
                        "list")
    waveform = np.concatenate(pieces)  # [n_samples]
    if not np.all(np.isfinite(waveform)):
        raise DataError(f"audio file {path} contains NaN or inf samples: replace it")
    if rate != sample_rate:
        waveform = librosa.resample(waveform, orig_sr=rate, target_sr=sample_rate)
    return np.ascontiguousarray(waveform, dtype=np.float32)


def open_audio(path: Path) -> BinaryIO:
    """`path` opened for soundfile, which then never sees the name: libsndfile takes names as
    UTF-8, so a file named in other bytes could not be read by name.

    Raises:
      DataError: the file is missing (a broken link too) or cannot be opened (permissions).
    """
    if not path.is_file():
        raise DataError(f"audio file {path} is missing: restore it or remove it from the list")
    try:
        return open(path, "rb")
    except OSError as e:
        raise DataError(f"audio file {path} cannot be opened ({e.strerror}): check its "
                        "permissions, or remove it from the list") from None


def decode_error(path: Path, error: BaseException) -> DataError:
    """The one line for a file soundfile could not decode."""
    return DataError(f"audio file {path} cannot be decoded ({first_line(error)}): replace it "
                     "with an intact WAV, FLAC or OGG file (MP3 only where libsndfile reads it)")


def load_waveform(path: str | Path, *, config: FeatureConfig) -> np.ndarray:
    """Reads a clip as mono at the feature rate, zero-padded to at least one segment.

    A clip shorter than `config.num_samples` is zero-padded to that length (what training sees
    for a short clip); a longer one is kept whole, so the cache holds every frame of it.

    Returns:
      `[max(n_samples, config.num_samples)]` float32.

    Raises:
      DataError: as `read_audio`.
    """
    waveform = read_audio(path, sample_rate=config.sample_rate)
    return np.pad(waveform, (0, max(0, config.num_samples - waveform.shape[0])))


# A block's frames times channels at most, when a file is read in blocks: a header claiming
# 1,024 channels at 768 kHz would otherwise ask for 3 GB per one-second block.
BLOCK_VALUES = 1 << 22
# Rates outside these are a damaged header, not audio: a WAV claiming 3 Hz would be resampled to
# hours of 16 kHz samples (found by benchmarks/fuzz.py), one claiming 4 GHz read in 4 GB blocks.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 768000


def check_sample_rate(path: Path, rate: int) -> None:
    """Rejects a file whose header gives a sample rate no recording has."""
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise DataError(f"audio file {path} claims a sample rate of {rate} Hz, outside "
                        f"{MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz: its header is damaged; "
                        "replace it with an intact copy")


def check_wav_not_truncated(path: Path, handle: Optional[BinaryIO] = None) -> None:
    """Rejects a RIFF/WAVE file whose data chunk runs past the end of the file.

    libsndfile reads such a file without complaint (it returns the samples that are there), so a
    chunk cut short by an interrupted copy would otherwise be silently zero-padded. `handle`,
    the file already open (`open_audio`), is read from (seek back before decoding it).
    """
    size = path.stat().st_size
    with contextlib.nullcontext(handle) if handle else open(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return  # not RIFF/WAVE: soundfile decides whether it can read it
        offset = 12
        while offset + 8 <= size:
            f.seek(offset)
            chunk_id, chunk_size = f.read(4), int.from_bytes(f.read(4), "little")
            if chunk_id == b"data":
                if offset + 8 + chunk_size > size:
                    raise DataError(f"audio file {path} is truncated: its header announces "
                                    f"{chunk_size} bytes of audio but the file ends after "
                                    f"{size - offset - 8}; replace it with an intact copy")
                return
            offset += 8 + chunk_size + (chunk_size & 1)  # RIFF chunks are word-aligned


def file_features(path: str | Path, *, config: FeatureConfig) -> np.ndarray:
    """`[n_frames, n_mels]` log-mel features of one clip, n_frames >= `config.num_frames`."""
    return log_mel_spectrogram(load_waveform(path, config=config), config=config)


@keras.saving.register_keras_serializable(package="admlc_tf")
class LogMelSpectrogram(keras.layers.Layer):
    """In-graph twin of `log_mel_spectrogram`: `[batch, samples]` -> `[batch, frames, n_mels]`.

    Built from core TensorFlow ops only (`tf.signal.stft`, a matmul, a log), so a stock TF
    Serving binary runs it. It uses the same periodic Hamming window, the same uncentred framing
    and the very same mel matrix (a constant from `mel_matrix`) as the offline features; the two
    differ only by float32 FFT rounding (tests bound the difference).

    Args:
      config: the feature parameters, as a dict of `FeatureConfig` fields (stored for
        `get_config`).
      mel_by_sum: project onto the mel bands by a multiply and a sum instead of a matmul, for
        TFLite's dynamic-range quantisation: it quantises the input of every matmul to 8 bits
        per call, and a power spectrum spans many decades (a tone's small bins become 0 and
        their log is off by orders of magnitude); a multiply and a sum stay float32.
    """

    def __init__(self, config: dict, mel_by_sum: bool = False, **kwargs):
        kwargs.pop("trainable", None)  # always frozen; present when rebuilt from get_config
        super().__init__(trainable=False, **kwargs)
        self.config = dict(config)
        self.mel_by_sum = mel_by_sum
        self._features = FeatureConfig(**self.config)
        self._matrix = tf.constant(mel_matrix(self._features))  # [n_fft // 2 + 1, n_mels]

    def call(self, waveform):
        f = self._features
        if f.front_end in OWN_LAYERS:
            return OWN_LAYERS[f.front_end]()(waveform)
        stft = tf.signal.stft(waveform, frame_length=f.n_fft, frame_step=f.hop_length,
                              fft_length=f.n_fft, window_fn=tf.signal.hamming_window)
        power = tf.square(tf.abs(stft))  # [batch, frames, n_fft // 2 + 1]
        if self.mel_by_sum:
            mel = tf.reduce_sum(power[..., None] * self._matrix, axis=-2)
        else:
            mel = tf.matmul(power, self._matrix)
        return tf.math.log(mel + f.log_offset)  # [batch, frames, mels]

    def compute_output_shape(self, input_shape):
        batch, samples = input_shape
        frames = None if samples is None else FeatureConfig(**{
            **self.config, "chunk_seconds": samples / self._features.sample_rate}).num_frames
        return (batch, frames, self._features.n_mels)

    def get_config(self):
        return {**super().get_config(), "config": self.config, "mel_by_sum": self.mel_by_sum}
