"""The demo set's sounds: the speaker, television, percussive, broadband and tonal sources, the
room each segment is recorded in, and the signal helpers they share
(`admlc_tf.data.generated.demo` plans, mixes, annotates and writes the chunks). Each source
returns `[n_samples]` at an arbitrary level; the mixer sets the level."""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal

from admlc_tf.data.layouts.chime_home import SAMPLE_RATE

FLOOR_LEVEL_DB = (-62.0, -48.0)
# Peterson & Barney (1952) adult male F1-F3 in Hz for ten English vowels.
VOWEL_FORMANTS = np.array([
    [270, 2290, 3010], [390, 1990, 2550], [530, 1840, 2480], [660, 1720, 2410],
    [730, 1090, 2440], [570, 840, 2410], [440, 1020, 2240], [300, 870, 2240],
    [640, 1190, 2390], [490, 1350, 1690]], dtype=np.float64)
# F4, F5 and the bandwidths of F1-F5 (Hz) for an adult male vocal tract.
UPPER_FORMANTS = np.array([3300.0, 4300.0])
FORMANT_BANDWIDTHS = np.array([80.0, 100.0, 140.0, 200.0, 250.0])
# Speech shaping STFT: 32 ms frames, 16 ms hop; a sqrt-Hann pair reconstructs exactly at hop N/2.
_N_FFT = 512
_HOP = 256


@dataclasses.dataclass(frozen=True)
class Voice:
    """Speaker class of the speech model.

    Attributes:
      f0_range: range of a speaker's median F0 in Hz.
      formant_scale: range of the vocal-tract scale relative to an adult male.
      syllable_rate: mean syllables per second.
      intonation: std of the per-syllable log-F0 accent.
    """

    f0_range: tuple[float, float]
    formant_scale: tuple[float, float]
    syllable_rate: float
    intonation: float


VOICES = {
    "c": Voice(f0_range=(250.0, 400.0), formant_scale=(1.30, 1.45), syllable_rate=4.5,
               intonation=0.15),
    "m": Voice(f0_range=(85.0, 155.0), formant_scale=(0.95, 1.05), syllable_rate=4.0,
               intonation=0.08),
    "f": Voice(f0_range=(165.0, 255.0), formant_scale=(1.12, 1.22), syllable_rate=4.0,
               intonation=0.10),
}


@dataclasses.dataclass(frozen=True)
class Room:
    """Per-segment acoustics shared by all chunks of a segment.

    Attributes:
      sos: `[n_sections, 6]` colouring filter (high-pass plus a peaking resonance).
      impulse_response: `[n_taps]` reverb, direct path first.
      floor_db: RMS of the room-noise floor in dBFS.
      floor_exponent: spectral exponent of the floor noise (1 pink, 2 brown).
      hum_hz: frequency of a faint appliance hum, or 0 for none.
      gain: microphone gain applied to the whole chunk.
    """

    sos: np.ndarray
    impulse_response: np.ndarray
    floor_db: float
    floor_exponent: float
    hum_hz: float
    gain: float


# --------------------------------------------------------------------------------------------
# Signal helpers.
# --------------------------------------------------------------------------------------------


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def frame_rms(x: np.ndarray, frame: int = 512) -> np.ndarray:
    """RMS of non-overlapping frames: `[n]` -> `[n // frame]`."""
    n = len(x) // frame * frame
    return np.sqrt(np.mean(x[:n].reshape(-1, frame) ** 2, axis=1))


def active_rms(x: np.ndarray) -> float:
    """RMS over the frames within 20 dB of the loudest one, so sparse sources get a fair level."""
    power = frame_rms(x) ** 2
    active = power >= power.max() * 0.01
    return float(np.sqrt(power[active].mean())) if active.any() else 0.0


def _coloured_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f**exponent, unit RMS: `[n]`."""
    # Drawing the spectrum directly saves the forward FFT of white noise; same statistics.
    parts = rng.standard_normal((2, n // 2 + 1))
    freqs = np.maximum(np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE), 20.0)
    x = np.fft.irfft((parts[0] + 1j * parts[1]) * freqs ** (-exponent / 2.0), n)
    return x / np.sqrt(np.mean(x ** 2))


def _fade(n: int, fade_in: int, fade_out: int) -> np.ndarray:
    """Raised-cosine on/off envelope: `[n]`."""
    env = np.ones(n)
    for length, sl in ((fade_in, slice(0, fade_in)), (fade_out, slice(n - fade_out, n))):
        if length > 0:
            ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(length) / length)
            env[sl] *= ramp if sl.start == 0 else ramp[::-1]
    return env


def _place(out: np.ndarray, event: np.ndarray, start: int) -> None:
    """Adds `event` into `out` at `start`, cut at the chunk's end."""
    stop = min(len(out), start + len(event))
    if stop > start:
        out[start:stop] += event[:stop - start]


def _tones(freq: np.ndarray, amplitudes: Sequence[float], harmonics: Sequence[int]) -> np.ndarray:
    """Sum of harmonics of a time-varying frequency: `[n]` Hz -> `[n]`."""
    phase = 2.0 * np.pi * np.cumsum(freq) / SAMPLE_RATE
    return sum(a * np.sin(k * phase) for a, k in zip(amplitudes, harmonics))


def _stft_window() -> np.ndarray:
    return np.sqrt(0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(_N_FFT) / _N_FFT))


def _stft(x: np.ndarray) -> np.ndarray:
    """`[n]` -> `[n_frames, _N_FFT // 2 + 1]` complex; frame i is centred at `_frame_times()[i]`."""
    padded = np.pad(x, (_N_FFT - _HOP, _N_FFT))
    return np.fft.rfft(sliding_window_view(padded, _N_FFT)[::_HOP] * _stft_window(), axis=1)


def _istft(spec: np.ndarray, n: int) -> np.ndarray:
    """Inverse of `_stft` by weighted overlap-add: `[n_frames, n_bins]` -> `[n]`."""
    frames = np.fft.irfft(spec, _N_FFT, axis=1) * _stft_window()
    out = np.zeros(len(frames) * _HOP + _N_FFT)
    for k in range(_N_FFT // _HOP):
        part = frames[:, k * _HOP:(k + 1) * _HOP].reshape(-1)
        out[k * _HOP:k * _HOP + len(part)] += part
    # Sqrt-Hann analysis times synthesis sums to N / (2 hop) at hop N/2 or N/4.
    out /= _N_FFT / (2.0 * _HOP)
    return out[_N_FFT - _HOP:_N_FFT - _HOP + n]


def _frame_times(n: int) -> np.ndarray:
    """Centres of the `_stft` frames of an `[n]` signal, in seconds: `[n_frames]`."""
    n_frames = (n + 2 * _N_FFT - _HOP - _N_FFT) // _HOP + 1
    return (np.arange(n_frames) * _HOP - (_N_FFT - _HOP) + _N_FFT // 2) / SAMPLE_RATE


# --------------------------------------------------------------------------------------------
# Room.
# --------------------------------------------------------------------------------------------


def make_room(rng: np.random.Generator) -> Room:
    highpass = signal.butter(2, rng.uniform(40.0, 110.0), "highpass", fs=SAMPLE_RATE,
                             output="sos")
    peak = _peaking_sos(rng.uniform(200.0, 3000.0), rng.uniform(-6.0, 6.0), rng.uniform(0.7, 2.0))
    rt60 = rng.uniform(0.15, 0.5)
    t = np.arange(int(rt60 * SAMPLE_RATE)) / SAMPLE_RATE
    # Exponentially decaying noise is the classic diffuse-tail model; 6.9 = ln(1000) for -60 dB.
    tail = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)
    tail[: int(0.003 * SAMPLE_RATE)] = 0.0  # gap before the first reflections
    ir = tail * rng.uniform(0.05, 0.2) / np.sqrt(np.sum(tail ** 2) + 1e-12)
    ir[0] = 1.0
    return Room(sos=np.vstack([highpass, peak]), impulse_response=ir,
                floor_db=rng.uniform(*FLOOR_LEVEL_DB), floor_exponent=rng.uniform(0.8, 2.0),
                hum_hz=float(rng.choice([0.0, 50.0, 100.0])),
                gain=db_to_gain(rng.uniform(-4.0, 4.0)))


def _peaking_sos(freq: float, gain_db: float, q: float) -> np.ndarray:
    """RBJ audio-EQ-cookbook peaking biquad as one `[1, 6]` SOS section."""
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * freq / SAMPLE_RATE
    alpha = np.sin(w0) / (2.0 * q)
    b = np.array([1.0 + alpha * a, -2.0 * np.cos(w0), 1.0 - alpha * a])
    den = np.array([1.0 + alpha / a, -2.0 * np.cos(w0), 1.0 - alpha / a])
    return np.concatenate([b / den[0], den / den[0]])[None, :]


def apply_room(x: np.ndarray, room: Room) -> np.ndarray:
    coloured = signal.sosfilt(room.sos, x)
    return signal.fftconvolve(coloured, room.impulse_response)[:len(x)]


def room_floor(rng: np.random.Generator, room: Room, *, n_samples: int) -> np.ndarray:
    floor = _coloured_noise(rng, n_samples, room.floor_exponent)
    if room.hum_hz:
        t = np.arange(n_samples) / SAMPLE_RATE
        floor += 0.5 * np.sin(2.0 * np.pi * room.hum_hz * t + rng.uniform(0, 2 * np.pi))
    return floor * (db_to_gain(room.floor_db) / np.sqrt(np.mean(floor ** 2)))


# --------------------------------------------------------------------------------------------
# Sources: each returns `[n_samples]` at an arbitrary level; the mixer sets the level.
# --------------------------------------------------------------------------------------------


def speech(rng: np.random.Generator, voice: Voice, *, n_samples: int,
           pause_range: tuple[float, float] = (0.15, 0.9)) -> np.ndarray:
    """Source-filter speech: phrases of syllables, each a consonant noise then a vowel.

    Args:
      rng: source of randomness.
      voice: speaker class (F0, vocal-tract scale, rate, intonation).
      n_samples: output length.
      pause_range: pause between phrases in seconds.

    Returns:
      `[n_samples]` speech.
    """
    t = _frame_times(n_samples)
    voiced, frication = np.zeros(len(t)), np.zeros(len(t))
    f0 = np.full(len(t), np.nan)
    formants = np.full((3, len(t)), np.nan)
    fric_centre = np.full(len(t), 4000.0)
    speaker_f0 = rng.uniform(*voice.f0_range)
    scale = rng.uniform(*voice.formant_scale)

    start = -rng.uniform(0.0, 1.0)  # the chunk may begin mid-phrase
    while start < t[-1]:
        end = start + rng.uniform(0.8, 2.5)
        phrase_f0 = speaker_f0 * np.exp(rng.normal(0.0, 0.06))
        s = start
        while s < end:
            duration = rng.uniform(0.6, 1.4) / voice.syllable_rate
            consonant = rng.uniform(0.03, 0.08) if rng.random() < 0.6 else 0.0
            onset = s + consonant
            fric = (t >= s) & (t < onset)
            frication[fric] = rng.uniform(0.1, 0.35)
            fric_centre[fric] = rng.uniform(2500.0, 6000.0)
            vowel = (t >= onset) & (t < s + duration)
            if vowel.any():
                rel = (t[vowel] - onset) / max(s + duration - onset, 1e-3)
                voiced[vowel] = np.sin(np.pi * rel) ** 0.5 * rng.uniform(0.6, 1.0)
                # Declination: F0 drifts down ~15% over a phrase; accents move whole syllables.
                declination = 1.0 - 0.15 * (s - start) / (end - start)
                f0[vowel] = phrase_f0 * declination * np.exp(rng.normal(0.0, voice.intonation)
                                                             + 0.05 * rel * rng.normal())
                formants[:, vowel] = (VOWEL_FORMANTS[rng.integers(len(VOWEL_FORMANTS))]
                                      * scale)[:, None]
            s += duration
        start = end + rng.uniform(*pause_range)

    f0 = _fill_and_smooth(f0, speaker_f0, width=3)
    f0 *= np.exp(rng.normal(0.0, 0.01, len(f0)))  # jitter
    formants = np.stack([_fill_and_smooth(row, np.nanmean(row) if np.isfinite(row).any()
                                          else 1500.0 * scale, width=5) for row in formants])

    source = _pulse_train(np.interp(np.arange(n_samples) / SAMPLE_RATE, t, f0))
    freqs = np.fft.rfftfreq(_N_FFT, 1.0 / SAMPLE_RATE)
    spec = _stft(source)
    # Shape only the frames that sound: pauses and vowels without a consonant are common.
    vowel = voiced > 0
    spec[~vowel] = 0.0
    spec[vowel] *= _vocal_tract(freqs, formants[:, vowel], scale) * voiced[vowel, None]
    fric = np.flatnonzero(frication > 0)
    if len(fric) and vowel.any():
        # Fricatives: noise in a ~2 kHz wide band above 2.5 kHz, with `frication` setting its
        # frame power relative to the mean vowel frame (about -20 to -9 dB).
        shape = np.exp(-0.5 * ((freqs[None, :] - fric_centre[fric, None]) / 1000.0) ** 2)
        vowel_power = np.mean(np.sum(np.abs(spec[vowel]) ** 2, axis=1))
        shape *= np.sqrt(vowel_power / np.sum(shape ** 2, axis=1, keepdims=True))
        # White noise has i.i.d. complex Gaussian STFT bins, so draw them directly rather than
        # transform noise; the overlap-add makes them consistent.
        noise = rng.standard_normal((2, len(fric), len(freqs))) * np.sqrt(0.5)
        spec[fric] += (noise[0] + 1j * noise[1]) * shape * frication[fric, None]
    return _istft(spec, n_samples)


def _fill_and_smooth(x: np.ndarray, default: float, *, width: int) -> np.ndarray:
    """Interpolates NaN gaps of a frame track and smooths it with a moving average: `[n]`."""
    known = np.isfinite(x)
    if not known.any():
        return np.full(len(x), default)
    idx = np.arange(len(x))
    filled = np.interp(idx, idx[known], x[known])
    padded = np.pad(filled, width // 2, mode="edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def _pulse_train(f0: np.ndarray) -> np.ndarray:
    """Band-limited impulse train (closed-form Dirichlet kernel), no alias below 7.2 kHz.

    Args:
      f0: `[n]` instantaneous frequency in Hz.

    Returns:
      `[n]` pulse train with peaks of about 1.
    """
    n_harmonics = max(1, int(0.45 * SAMPLE_RATE / f0.max()))
    # The kernel has period 2 pi, so the wrapped phase is exact and float32 is precise enough.
    phase = np.mod(2.0 * np.pi * np.cumsum(f0) / SAMPLE_RATE, 2.0 * np.pi).astype(np.float32)
    den = np.sin(phase / 2.0)
    safe = np.abs(den) > 1e-6
    kernel = np.where(safe, np.sin((n_harmonics + 0.5) * phase) / np.where(safe, den, 1.0),
                      2.0 * n_harmonics + 1.0)
    return (kernel.astype(np.float64) - 1.0) / (2.0 * n_harmonics)


def _vocal_tract(freqs: np.ndarray, formants: np.ndarray, scale: float) -> np.ndarray:
    """Cascade of five resonators times a -6 dB/octave source tilt.

    Args:
      freqs: `[n_bins]` Hz.
      formants: `[3, n_frames]` F1-F3 in Hz; F4 and F5 follow from `scale`.
      scale: vocal-tract scale relative to an adult male.

    Returns:
      `[n_frames, n_bins]` magnitude response.
    """
    # Float32 power, one square root at the end: this runs for every speech source.
    f2 = (freqs.astype(np.float32) ** 2)[None, :]
    response = np.tile(1.0 / (1.0 + f2 / 150.0 ** 2), (formants.shape[1], 1))
    upper = np.broadcast_to((UPPER_FORMANTS * scale)[:, None], (2, formants.shape[1]))
    widths = FORMANT_BANDWIDTHS * np.sqrt(scale)
    for centre, width in zip(np.concatenate([formants, upper]).astype(np.float32), widths):
        c2 = (centre ** 2)[:, None]
        response *= c2 ** 2 / ((c2 - f2) ** 2 + np.float32(width ** 2) * f2)
    return np.sqrt(response)


def speech_source(letter: str) -> Callable[..., np.ndarray]:
    def source(rng: np.random.Generator, *, n_samples: int) -> np.ndarray:
        return speech(rng, VOICES[letter], n_samples=n_samples)
    return source


def television(rng: np.random.Generator, *, n_samples: int) -> np.ndarray:
    """TV or video game: music, usually with speech, through a small loudspeaker.

    Returns:
      `[n_samples]` band-limited, level-compressed programme.
    """
    programme = _music(rng, n_samples=n_samples)
    programme /= active_rms(programme) + 1e-12
    if rng.random() < 0.7:
        voice = VOICES["cmf"[rng.integers(3)]]
        talk = speech(rng, voice, n_samples=n_samples, pause_range=(0.05, 0.4))
        programme = (programme * db_to_gain(rng.uniform(-12.0, -3.0))
                     + talk / (active_rms(talk) + 1e-12))
    speaker = signal.butter(4, [rng.uniform(150.0, 300.0), rng.uniform(4500.0, 7000.0)],
                            "bandpass", fs=SAMPLE_RATE, output="sos")
    programme = signal.sosfilt(speaker, programme)
    # Broadcast audio is heavily compressed: divide by a 100 ms power envelope to steady it.
    alpha = 1.0 / (0.1 * SAMPLE_RATE)
    envelope = np.sqrt(signal.lfilter([alpha], [1.0, alpha - 1.0], programme ** 2))
    envelope = np.maximum(envelope, 0.1 * envelope.max())
    return programme / envelope ** 0.7


def _music(rng: np.random.Generator, *, n_samples: int) -> np.ndarray:
    """Chord progression plus melody; `[n_samples]`."""
    beat = rng.uniform(0.3, 0.6)
    key = rng.integers(45, 57)  # MIDI root of the key
    chiptune = rng.random() < 0.5
    # Chords change every 2-4 beats over I, IV, V, vi of the key.
    chord_lengths = beat * rng.integers(2, 5, size=12)
    degrees = np.array([0, 5, 7, 9])[rng.integers(4, size=12)]
    melody_lengths = beat * rng.choice([0.5, 1.0], size=40)
    pentatonic = np.array([0, 2, 4, 7, 9, 12, 14, 16])
    melody_notes = key + 24 + pentatonic[rng.integers(len(pentatonic), size=40)]

    out = np.zeros(n_samples)
    for interval in (0, 4, 7):  # a triad; the third is major, good enough for background music
        freq, since = _note_track(chord_lengths, key + degrees + interval, n_samples)
        tone = _tones(freq, [1.0, 0.5, 0.25, 0.12], [1, 2, 3, 4])
        out += 0.4 * tone * np.exp(-since / rng.uniform(0.4, 1.2))
    freq, since = _note_track(melody_lengths, melody_notes, n_samples)
    if chiptune:  # odd harmonics at 1/k: a band-limited square wave, the 8-bit console sound
        tone = _tones(freq, [1.0, 1 / 3, 1 / 5, 1 / 7], [1, 3, 5, 7])
        out += tone * np.where(since < 0.8 * beat * 0.5, 1.0, 0.0)
    else:
        out += _tones(freq, [1.0, 0.3, 0.1], [1, 2, 3]) * np.exp(-since / 0.3)
    return out


def _note_track(lengths: np.ndarray, midi: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample frequency and time since note onset for a note sequence.

    Args:
      lengths: `[n_notes]` note durations in seconds (their sum should cover the chunk).
      midi: `[n_notes]` MIDI note numbers.
      n: output length.

    Returns:
      (`[n]` frequency in Hz, `[n]` seconds since the current note began).
    """
    onsets = np.concatenate([[0.0], np.cumsum(lengths)[:-1]]) - lengths[0] * 0.5
    t = np.arange(n) / SAMPLE_RATE
    note = np.clip(np.searchsorted(onsets, t, side="right") - 1, 0, len(lengths) - 1)
    freq = 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64)[note] - 69.0) / 12.0)
    return freq, np.maximum(t - onsets[note], 0.0)


def percussive(rng: np.random.Generator, *, n_samples: int) -> np.ndarray:
    """Knocks, footsteps and bangs at random times.

    Returns:
      `[n_samples]` sparse impacts.
    """
    out = np.zeros(n_samples)
    for _ in range(rng.integers(1, 4)):
        kind = rng.integers(3)
        start = rng.uniform(0.0, 3.5)
        if kind == 0:  # knock: a few hits on one wooden resonance
            hits = start + np.cumsum(rng.uniform(0.12, 0.25, size=rng.integers(2, 5)))
            partials, decay, noise_decay = [rng.uniform(200.0, 900.0)], 0.03, 0.003
        elif kind == 1:  # footsteps: a regular series of low thuds
            hits = start + rng.uniform(0.4, 0.7) * np.arange(rng.integers(3, 8))
            partials, decay, noise_decay = [rng.uniform(60.0, 150.0)], 0.06, 0.02
        else:  # bang / dropped object: one loud broadband hit with a few modes
            hits = np.array([start])
            partials = list(rng.uniform(100.0, 3000.0, size=rng.integers(2, 4)))
            decay, noise_decay = 0.12, rng.uniform(0.03, 0.12)
        for hit in hits:
            event = _impact(rng, partials, decay=decay * rng.uniform(0.6, 1.4),
                            noise_decay=noise_decay)
            _place(out, event * rng.uniform(0.5, 1.0), int(hit * SAMPLE_RATE))
    return out


def _impact(rng: np.random.Generator, partials: Sequence[float], *, decay: float,
            noise_decay: float) -> np.ndarray:
    """One hit: a decaying noise burst plus exponentially damped sinusoids, `[n_event]`."""
    t = np.arange(int(0.4 * SAMPLE_RATE)) / SAMPLE_RATE
    burst = rng.standard_normal(len(t)) * np.exp(-t / noise_decay)
    # A random one-pole low-pass varies the burst from a click to a thud.
    pole = rng.uniform(0.0, 0.9)
    burst = signal.lfilter([1.0 - pole], [1.0, -pole], burst)
    ring = sum(np.sin(2.0 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) * np.exp(-t / decay)
               * rng.uniform(0.3, 1.0) for f in partials)
    return burst + ring


def broadband(rng: np.random.Generator, *, n_samples: int) -> np.ndarray:
    """Steady wide-band noise over most of the chunk (appliances, water, fans).

    Returns:
      `[n_samples]` noise with fades and slow level drift.
    """
    noise = _coloured_noise(rng, n_samples, rng.uniform(0.0, 1.6))
    t = np.arange(n_samples) / SAMPLE_RATE
    if rng.random() < 0.5:  # motor or mains hum riding on the noise
        hum = rng.choice([50.0, 100.0, rng.uniform(120.0, 400.0)])
        noise += _tones(np.full(n_samples, hum), rng.uniform(0.1, 0.4, size=4), [1, 2, 3, 4])
    noise *= 1.0 + 0.15 * np.sin(2.0 * np.pi * rng.uniform(0.1, 0.6) * t + rng.uniform(0, 6.3))
    # Usually running for the whole chunk; otherwise switched on or off inside it.
    on = int(rng.uniform(0.0, 1.2) * SAMPLE_RATE) if rng.random() < 0.3 else 0
    off = n_samples - (int(rng.uniform(0.0, 1.2) * SAMPLE_RATE) if rng.random() < 0.3 else 0)
    envelope = np.zeros(n_samples)
    envelope[on:off] = _fade(off - on, int(rng.uniform(0.02, 0.3) * SAMPLE_RATE) if on else 0,
                             int(rng.uniform(0.02, 0.3) * SAMPLE_RATE) if off < n_samples else 0)
    return noise * envelope


def other_tonal(rng: np.random.Generator, *, n_samples: int) -> np.ndarray:
    """Beeps, chirps, whistles, clinks and rings at random times.

    Returns:
      `[n_samples]` sparse tonal events.
    """
    out = np.zeros(n_samples)
    makers = (_beeps, _chirps, _whistle, _clink, _ring)
    for _ in range(rng.integers(2, 5)):
        event = makers[rng.integers(len(makers))](rng)
        _place(out, event * rng.uniform(0.5, 1.0), int(rng.uniform(0.0, 3.6) * SAMPLE_RATE))
    return out


def _gated_tone(freq: np.ndarray, harmonics: Sequence[float] = (1.0,)) -> np.ndarray:
    """Tone with 5 ms raised-cosine edges: `[n]` Hz -> `[n]`."""
    edge = min(int(0.005 * SAMPLE_RATE), len(freq) // 2)
    return _tones(freq, harmonics, range(1, len(harmonics) + 1)) * _fade(len(freq), edge, edge)


def _beeps(rng: np.random.Generator) -> np.ndarray:
    freq = rng.uniform(600.0, 3500.0)
    on, off = rng.uniform(0.08, 0.4), rng.uniform(0.08, 0.3)
    beep = _gated_tone(np.full(int(on * SAMPLE_RATE), freq), (1.0, 0.2 * rng.random()))
    gap = np.zeros(int(off * SAMPLE_RATE))
    return np.concatenate([np.concatenate([beep, gap]) for _ in range(rng.integers(1, 5))])


def _chirps(rng: np.random.Generator) -> np.ndarray:
    parts = []
    for _ in range(rng.integers(1, 6)):
        n = int(rng.uniform(0.05, 0.25) * SAMPLE_RATE)
        f_start, f_end = rng.uniform(1500.0, 6000.0, size=2)
        freq = f_start * (f_end / f_start) ** np.linspace(0.0, 1.0, n)
        parts += [_gated_tone(freq), np.zeros(int(rng.uniform(0.03, 0.15) * SAMPLE_RATE))]
    return np.concatenate(parts)


def _whistle(rng: np.random.Generator) -> np.ndarray:
    n = int(rng.uniform(0.3, 1.2) * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    glide = np.linspace(1.0, rng.uniform(0.8, 1.25), n)
    vibrato = 1.0 + rng.uniform(0.01, 0.04) * np.sin(2.0 * np.pi * rng.uniform(4.0, 7.0) * t)
    return _gated_tone(rng.uniform(900.0, 2800.0) * glide * vibrato, (1.0, 0.1))


def _clink(rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.5 * SAMPLE_RATE)) / SAMPLE_RATE
    base = rng.uniform(1800.0, 4500.0)
    decay = rng.uniform(0.08, 0.4)
    # Inharmonic partial ratios of a free bar / glass rim, upper ones dying faster.
    return sum(np.sin(2.0 * np.pi * base * r * t) * np.exp(-t * (1.0 + i) / decay) / (1.0 + i)
               for i, r in enumerate((1.0, 2.76, 5.40)) if base * r < 0.45 * SAMPLE_RATE)


def _ring(rng: np.random.Generator) -> np.ndarray:
    n = int(rng.uniform(0.3, 0.8) * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    low, high = rng.uniform(700.0, 1200.0), rng.uniform(1300.0, 2200.0)
    # Telephone-style warble: two tones alternating at ~20 Hz.
    freq = np.where(np.sin(2.0 * np.pi * rng.uniform(15.0, 25.0) * t) > 0, low, high)
    return _gated_tone(freq, (1.0, 0.3))


SOURCES: dict[str, Callable[..., np.ndarray]] = {
    "c": speech_source("c"),
    "m": speech_source("m"),
    "f": speech_source("f"),
    "v": television,
    "p": percussive,
    "b": broadband,
    "o": other_tonal,
}
