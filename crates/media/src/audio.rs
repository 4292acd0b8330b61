//! Sound devices as traits: a source is pulled one frame at a time, a sink is pushed one.
//!
//! The pipeline never talks to a sound card directly, so the whole call path can be tested
//! with a tone going in and a recording coming out; the device implementations (cpal) satisfy
//! the same traits.

use std::f64::consts::TAU;

use crate::{Frame, FRAME_SAMPLES, SAMPLE_RATE};

/// Where outgoing audio comes from (a microphone, a tone): pulled every 20 ms.
pub trait AudioSource: Send {
    /// Fills `frame` with the next 20 ms. Returns `false` once the source has ended, with
    /// `frame` then filled with silence, so a caller can keep its clock running either way.
    fn read(&mut self, frame: &mut Frame) -> bool;
}

/// Where incoming audio goes (a speaker, a recording): pushed every 20 ms.
pub trait AudioSink: Send {
    /// Takes the next 20 ms.
    fn write(&mut self, frame: &Frame);
}

/// A sine of a given frequency and amplitude, continuous in phase across frames.
#[derive(Debug, Clone)]
pub struct ToneSource {
    phase: f64,
    step: f64,
    amplitude: f32,
    frames_left: Option<u64>,
}

impl ToneSource {
    /// An endless tone of `frequency_hz` with peak `amplitude` (clamped to `[0, 1]`).
    pub fn new(frequency_hz: f64, amplitude: f32) -> Self {
        Self {
            phase: 0.0,
            step: TAU * frequency_hz / f64::from(SAMPLE_RATE),
            amplitude: amplitude.clamp(0.0, 1.0),
            frames_left: None,
        }
    }

    /// The same tone, ending after `frames` frames.
    pub fn with_frames(mut self, frames: u64) -> Self {
        self.frames_left = Some(frames);
        self
    }
}

impl AudioSource for ToneSource {
    fn read(&mut self, frame: &mut Frame) -> bool {
        if let Some(left) = self.frames_left.as_mut() {
            if *left == 0 {
                frame.fill(0.0);
                return false;
            }
            *left -= 1;
        }
        for sample in frame.iter_mut() {
            // Computed in f64 and wrapped, so a tone of hours does not lose precision.
            *sample = self.amplitude * self.phase.sin() as f32;
            self.phase = (self.phase + self.step) % TAU;
        }
        true
    }
}

/// Keeps every sample it is given, in order.
#[derive(Debug, Clone, Default)]
pub struct RecordingSink {
    samples: Vec<f32>,
}

impl RecordingSink {
    /// An empty recording.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything written so far.
    pub fn samples(&self) -> &[f32] {
        &self.samples
    }

    /// The recording, consumed.
    pub fn into_samples(self) -> Vec<f32> {
        self.samples
    }

    /// Number of whole frames written.
    pub fn frames(&self) -> usize {
        self.samples.len() / FRAME_SAMPLES
    }
}

impl AudioSink for RecordingSink {
    fn write(&mut self, frame: &Frame) {
        self.samples.extend_from_slice(frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SILENCE;

    #[test]
    fn tone_is_continuous_and_bounded() {
        let mut tone = ToneSource::new(440.0, 0.5);
        let mut sink = RecordingSink::new();
        let mut frame = SILENCE;
        for _ in 0..3 {
            assert!(tone.read(&mut frame));
            sink.write(&frame);
        }
        let s = sink.samples();
        assert_eq!(s.len(), 3 * FRAME_SAMPLES);
        assert!(s.iter().all(|x| x.abs() <= 0.5));
        // No step at frame boundaries: neighbours differ by at most one sample's phase step.
        let max_step = (TAU * 440.0 / 48_000.0 * 0.5) as f32 + 1e-4;
        assert!(s.windows(2).all(|w| (w[1] - w[0]).abs() <= max_step));
        assert!(s.iter().any(|x| *x > 0.49));
    }

    #[test]
    fn tone_ends_with_silence() {
        let mut tone = ToneSource::new(1000.0, 1.0).with_frames(1);
        let mut frame = SILENCE;
        assert!(tone.read(&mut frame));
        assert!(!tone.read(&mut frame));
        assert!(frame.iter().all(|x| *x == 0.0));
    }
}
