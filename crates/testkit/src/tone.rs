//! Tone analysis for call tests: reads the WAV files a [`crate::CallPeer`]
//! records and finds the dominant frequency and how far it stands above
//! everything else.

use std::f64::consts::PI;
use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Most samples analysed at once (a power of two: 1.37 s at 48 kHz).
const MAX_WINDOW: usize = 1 << 16;
/// Frequencies below this are left out (DC and hum).
const LOW_CUT_HZ: f64 = 20.0;
/// Bins on each side of the peak counted as the tone (the window's main
/// lobe is four bins wide on each side).
const TONE_BINS: usize = 5;

/// What [`analyse`] found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tone {
    /// The dominant frequency in Hz (interpolated between FFT bins).
    pub freq_hz: f64,
    /// The power of the dominant tone against the power of everything else
    /// above 20 Hz, in dB.
    pub snr_db: f64,
    /// The RMS level of the analysed samples, full scale = 1.0.
    pub rms: f64,
}

/// Finds the dominant tone in `samples` (mono, `rate` Hz): an FFT with a
/// 4-term Blackman-Harris window (side lobes 92 dB down) over the largest power-of-two length that fits (at most 65,536
/// samples, taken from the middle). Needs at least 1,024 samples.
pub fn analyse(samples: &[i16], rate: u32) -> Result<Tone> {
    let mut n = MAX_WINDOW;
    while n > samples.len() {
        n /= 2;
    }
    if n < 1024 {
        bail!("too few samples to analyse: {}", samples.len());
    }
    let start = (samples.len() - n) / 2;
    let slice = &samples[start..start + n];
    let rms = (slice
        .iter()
        .map(|&s| (f64::from(s) / 32768.0).powi(2))
        .sum::<f64>()
        / n as f64)
        .sqrt();
    let mut re: Vec<f64> = slice
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let x = 2.0 * PI * i as f64 / n as f64;
            let w =
                0.35875 - 0.48829 * x.cos() + 0.14128 * (2.0 * x).cos() - 0.01168 * (3.0 * x).cos();
            f64::from(s) / 32768.0 * w
        })
        .collect();
    let mut im = vec![0.0; n];
    fft(&mut re, &mut im);
    let power: Vec<f64> = re
        .iter()
        .zip(&im)
        .take(n / 2)
        .map(|(r, i)| r * r + i * i)
        .collect();
    let bin_hz = f64::from(rate) / n as f64;
    let low = ((LOW_CUT_HZ / bin_hz).ceil() as usize).max(1);
    let peak = (low..power.len())
        .max_by(|&a, &b| power[a].total_cmp(&power[b]))
        .unwrap_or(low);
    // Parabolic interpolation on the log power around the peak.
    let offset = if peak > low && peak + 1 < power.len() {
        let (a, b, c) = (
            power[peak - 1].max(1e-300).ln(),
            power[peak].max(1e-300).ln(),
            power[peak + 1].max(1e-300).ln(),
        );
        let denom = a - 2.0 * b + c;
        if denom.abs() > f64::EPSILON {
            (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
        } else {
            0.0
        }
    } else {
        0.0
    };
    let lo = peak.saturating_sub(TONE_BINS).max(low);
    let hi = (peak + TONE_BINS).min(power.len() - 1);
    let signal: f64 = power[lo..=hi].iter().sum();
    let total: f64 = power[low..].iter().sum();
    let noise = (total - signal).max(total * 1e-12).max(1e-300);
    Ok(Tone {
        freq_hz: (peak as f64 + offset) * bin_hz,
        snr_db: 10.0 * (signal.max(1e-300) / noise).log10(),
        rms,
    })
}

/// In-place iterative radix-2 FFT; `re.len()` must be a power of two.
fn fft(re: &mut [f64], im: &mut [f64]) {
    let n = re.len();
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut len = 2;
    while len <= n {
        let angle = -2.0 * PI / len as f64;
        let (w_im, w_re) = angle.sin_cos();
        for start in (0..n).step_by(len) {
            let (mut cur_re, mut cur_im) = (1.0, 0.0);
            for k in 0..len / 2 {
                let (a, b) = (start + k, start + k + len / 2);
                let t_re = re[b] * cur_re - im[b] * cur_im;
                let t_im = re[b] * cur_im + im[b] * cur_re;
                re[b] = re[a] - t_re;
                im[b] = im[a] - t_im;
                re[a] += t_re;
                im[a] += t_im;
                let next = cur_re * w_re - cur_im * w_im;
                cur_im = cur_re * w_im + cur_im * w_re;
                cur_re = next;
            }
        }
        len <<= 1;
    }
}

/// Reads a 16-bit PCM WAV file; returns its samples (the first channel
/// only) and sample rate.
pub fn read_wav(path: &Path) -> Result<(Vec<i16>, u32)> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        bail!("{} is not a WAV file", path.display());
    }
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at =
        |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let mut pos = 12;
    let mut format = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let size = u32_at(pos + 4) as usize;
        let body = pos + 8;
        let end = body.saturating_add(size).min(bytes.len());
        if id == b"fmt " && size >= 16 {
            let (tag, channels, rate, bits) = (
                u16_at(body),
                u16_at(body + 2),
                u32_at(body + 4),
                u16_at(body + 14),
            );
            if tag != 1 || bits != 16 || channels == 0 {
                bail!(
                    "{}: not 16-bit PCM (format {tag}, {bits} bits, {channels} channels)",
                    path.display()
                );
            }
            format = Some((usize::from(channels), rate));
        } else if id == b"data" {
            let (channels, rate) =
                format.with_context(|| format!("{}: data before fmt", path.display()))?;
            let samples = bytes[body..end]
                .chunks_exact(2 * channels)
                .map(|frame| i16::from_le_bytes([frame[0], frame[1]]))
                .collect();
            return Ok((samples, rate));
        }
        pos = body + size + (size & 1);
    }
    bail!("{}: no data chunk", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f64, rate: u32, secs: f64, amp: f64) -> Vec<f64> {
        let n = (f64::from(rate) * secs) as usize;
        (0..n)
            .map(|i| amp * (2.0 * PI * hz * i as f64 / f64::from(rate)).sin())
            .collect()
    }

    fn pcm(x: &[f64]) -> Vec<i16> {
        x.iter()
            .map(|v| (v * 32767.0).round().clamp(-32768.0, 32767.0) as i16)
            .collect()
    }

    #[test]
    fn a_clean_tone_is_found_with_a_high_snr() {
        for hz in [440.0, 660.0, 1000.0, 3150.5] {
            let t = analyse(&pcm(&sine(hz, 48000, 1.5, 0.3)), 48000).unwrap();
            assert!((t.freq_hz - hz).abs() < 1.0, "{hz}: {t:?}");
            assert!(t.snr_db > 60.0, "{hz}: {t:?}");
            assert!((t.rms - 0.3 / 2f64.sqrt()).abs() < 0.01, "{t:?}");
        }
    }

    #[test]
    fn noise_and_a_second_tone_lower_the_snr() {
        let mut x = sine(440.0, 48000, 1.0, 0.3);
        for (v, w) in x.iter_mut().zip(sine(660.0, 48000, 1.0, 0.03)) {
            *v += w;
        }
        // The second tone is 20 dB down.
        let t = analyse(&pcm(&x), 48000).unwrap();
        assert!((t.freq_hz - 440.0).abs() < 1.0, "{t:?}");
        assert!((t.snr_db - 20.0).abs() < 1.0, "{t:?}");
        // White-ish noise at about the tone's level: no clean tone.
        let mut state = 12345u64;
        let noisy: Vec<f64> = sine(440.0, 48000, 1.0, 0.1)
            .into_iter()
            .map(|v| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                v + ((state >> 33) as f64 / f64::from(u32::MAX) - 0.5) * 0.4
            })
            .collect();
        let t = analyse(&pcm(&noisy), 48000).unwrap();
        assert!(t.snr_db < 10.0, "{t:?}");
    }

    #[test]
    fn silence_and_short_input() {
        assert!(analyse(&[0; 100], 48000).is_err());
        let t = analyse(&[0; 4096], 48000).unwrap();
        assert_eq!(t.rms, 0.0);
    }

    #[test]
    fn wav_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.wav");
        let samples = pcm(&sine(660.0, 48000, 0.5, 0.3));
        let mut bytes = Vec::new();
        let data_len = u32::try_from(samples.len() * 2).unwrap();
        bytes.extend_from_slice(b"RIFF");
        bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
        bytes.extend_from_slice(b"WAVEfmt ");
        bytes.extend_from_slice(&16u32.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&48000u32.to_le_bytes());
        bytes.extend_from_slice(&96000u32.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&16u16.to_le_bytes());
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&data_len.to_le_bytes());
        for s in &samples {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        fs::write(&path, bytes).unwrap();
        let (read, rate) = read_wav(&path).unwrap();
        assert_eq!(rate, 48000);
        assert_eq!(read, samples);
        assert!(read_wav(&dir.path().join("missing.wav")).is_err());
    }
}
