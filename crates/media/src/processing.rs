//! Echo cancellation, noise suppression and automatic gain control of the microphone.
//!
//! A call on laptop speakers plays the peer's voice into the microphone; without echo
//! cancellation the peer hears themselves a moment later. [`AudioProcessor`] is WebRTC's audio
//! processing module (the one Chrome, Firefox and PulseAudio's `module-echo-cancel` use) in
//! the 0.3 release PulseAudio packages, which Debian and Ubuntu ship as
//! `libwebrtc-audio-processing1`:
//!
//! - **Echo cancellation**: the far-end signal (what goes to the speaker) is given with
//!   [`AudioProcessor::render`]; an adaptive filter learns the echo path (the delay through
//!   the sound server and the room, found by the delay-agnostic estimator, so no device
//!   latency has to be measured) and removes it from the capture, and a non-linear stage
//!   suppresses what is left.
//! - **Noise suppression** (moderate): stationary noise (fans, hum) is estimated and removed.
//!   A steady tone is stationary too: it is removed like a fan, which is why tests that send
//!   pure tones through a call turn processing off ([`crate::CallConfig::audio_processing`]).
//! - **Automatic gain control** (adaptive digital, with a limiter): a quiet microphone is
//!   brought up to a speech level, a loud one kept from clipping.
//! - A high-pass filter removes DC and rumble below ~80 Hz.
//!
//! The module works on 10 ms blocks; a 20 ms [`Frame`] is two of them.
//!
//! Built with the `processing` feature (on by default). Without it,
//! [`AudioProcessor::new`] answers [`ProcessingError::Unavailable`] and calls run
//! unprocessed.

use crate::Frame;
#[cfg(feature = "processing")]
use crate::FRAME_SAMPLES;

/// Samples in one 10 ms block at 48 kHz: the unit the processing module works on.
pub const BLOCK_SAMPLES: usize = 480;

/// Which stages run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessingConfig {
    /// Removes the far end's voice from the microphone.
    pub echo_cancellation: bool,
    /// Removes stationary background noise.
    pub noise_suppression: bool,
    /// Brings the voice to a steady level.
    pub gain_control: bool,
}

impl Default for ProcessingConfig {
    /// Everything on.
    fn default() -> Self {
        Self {
            echo_cancellation: true,
            noise_suppression: true,
            gain_control: true,
        }
    }
}

/// Why processing could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessingError {
    /// This build has no audio processing (the `processing` feature is off).
    #[error("echo cancellation is not part of this build")]
    Unavailable,
    /// The processing module refused to start (the code is WebRTC's).
    #[error("echo cancellation did not start (error {0})")]
    Setup(String),
}

/// WebRTC's audio processing for one call: give it every frame that goes to the speaker and
/// every frame that comes from the microphone, in the order they happen.
pub struct AudioProcessor {
    #[cfg(feature = "processing")]
    inner: webrtc_audio_processing::Processor,
    /// One 10 ms block, as the module's one-channel layout.
    #[cfg(feature = "processing")]
    block: Vec<Vec<f32>>,
    #[cfg(not(feature = "processing"))]
    never: std::convert::Infallible,
}

impl std::fmt::Debug for AudioProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioProcessor").finish_non_exhaustive()
    }
}

impl AudioProcessor {
    /// Whether this build has audio processing.
    pub const AVAILABLE: bool = cfg!(feature = "processing");

    /// A processor for 48 kHz mono in both directions with the given stages.
    #[cfg(feature = "processing")]
    pub fn new(config: ProcessingConfig) -> Result<Self, ProcessingError> {
        use webrtc_audio_processing as apm;
        let mut inner = apm::Processor::new(&apm::InitializationConfig {
            num_capture_channels: 1,
            num_render_channels: 1,
            ..apm::InitializationConfig::default()
        })
        .map_err(|e| ProcessingError::Setup(e.to_string()))?;
        inner.set_config(apm::Config {
            echo_cancellation: config.echo_cancellation.then_some(apm::EchoCancellation {
                // Moderate keeps the near end's voice through double talk better than High
                // while removing as much of the echo (measured by the processing tests).
                suppression_level: apm::EchoCancellationSuppressionLevel::Moderate,
                // Echo tails up to ~128 ms (rooms, Bluetooth) instead of ~48 ms.
                enable_extended_filter: true,
                // The delay through the sound server is estimated, not measured.
                enable_delay_agnostic: true,
                stream_delay_ms: None,
            }),
            noise_suppression: config.noise_suppression.then_some(apm::NoiseSuppression {
                suppression_level: apm::NoiseSuppressionLevel::Moderate,
            }),
            gain_control: config.gain_control.then_some(apm::GainControl {
                mode: apm::GainControlMode::AdaptiveDigital,
                // WebRTC's defaults: speech at -3 dBFS, up to 9 dB of gain, a limiter.
                target_level_dbfs: 3,
                compression_gain_db: 9,
                enable_limiter: true,
            }),
            enable_high_pass_filter: true,
            ..apm::Config::default()
        });
        Ok(Self {
            inner,
            block: vec![vec![0.0; BLOCK_SAMPLES]],
        })
    }

    /// A processor for 48 kHz mono in both directions with the given stages.
    #[cfg(not(feature = "processing"))]
    pub fn new(_config: ProcessingConfig) -> Result<Self, ProcessingError> {
        Err(ProcessingError::Unavailable)
    }

    /// The far end: a frame about to be played on the speaker.
    pub fn render(&mut self, frame: &Frame) {
        #[cfg(feature = "processing")]
        for block in frame.chunks_exact(BLOCK_SAMPLES) {
            self.block[0].copy_from_slice(block);
            // An error leaves the echo canceller without this block: it re-converges.
            let _ = self
                .inner
                .process_render_frame_noninterleaved(&mut self.block);
        }
        #[cfg(not(feature = "processing"))]
        {
            let _ = frame;
            match self.never {}
        }
    }

    /// The near end: a frame from the microphone, processed in place before it is encoded.
    pub fn capture(&mut self, frame: &mut Frame) {
        #[cfg(feature = "processing")]
        {
            debug_assert_eq!(FRAME_SAMPLES % BLOCK_SAMPLES, 0);
            for block in frame.chunks_exact_mut(BLOCK_SAMPLES) {
                self.block[0].copy_from_slice(block);
                // On error the block goes out unprocessed rather than not at all.
                if self
                    .inner
                    .process_capture_frame_noninterleaved(&mut self.block)
                    .is_ok()
                {
                    block.copy_from_slice(&self.block[0]);
                }
            }
        }
        #[cfg(not(feature = "processing"))]
        {
            let _ = frame;
            match self.never {}
        }
    }
}

#[cfg(all(test, feature = "processing"))]
mod tests {
    use super::*;
    use crate::SILENCE;

    #[test]
    fn silence_stays_quiet_and_frames_keep_their_length() {
        let mut p = AudioProcessor::new(ProcessingConfig::default()).expect("processor");
        let mut frame = SILENCE;
        for _ in 0..50 {
            p.render(&SILENCE);
            p.capture(&mut frame);
        }
        assert!(frame.iter().all(|x| x.abs() < 1e-3), "{:?}", &frame[..8]);
    }
}
