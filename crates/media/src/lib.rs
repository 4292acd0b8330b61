//! Tern's call media: the audio pipeline of a 1:1 voice call and its network transport, with
//! no XMPP.
//!
//! WebKitGTK has no WebRTC, so calls do their media in Rust. Signalling (Jingle, in the
//! engine) drives a [`MediaBackend`] with plain descriptions; this crate does the rest:
//!
//! ```text
//! microphone → AudioSource → AudioProcessor (echo, noise, gain) → Encoder → RTP/SRTP/DTLS/ICE
//!   over UDP → JitterBuffer → Decoder → AudioProcessor (far-end reference) → AudioSink → speaker
//! ```
//!
//! - [`audio`]: the [`AudioSource`] / [`AudioSink`] traits that the sound devices implement,
//!   and [`ToneSource`] / [`RecordingSink`] for tests and a "test your sound" screen.
//! - [`codec`]: Opus (libopus) in VoIP mode with in-band FEC and DTX, packets with the
//!   sequence number and timestamp RTP will carry, concealment and FEC recovery on decode.
//! - [`jitter`]: a bounded, adaptive jitter buffer that reorders packets and says, every
//!   20 ms, whether to decode a packet, recover a lost one from the next packet's FEC, or
//!   conceal, keeping its delay near a target (20–200 ms) that follows the measured jitter.
//! - [`processing`]: echo cancellation, noise suppression and automatic gain control of the
//!   microphone (WebRTC's audio processing module), run by a call on every frame it sends and
//!   given every frame it plays (feature `processing`, on by default).
//! - [`devices`]: the computer's microphones and speakers through cpal, listed for a settings
//!   screen and opened as an [`AudioSource`] / [`AudioSink`] pair that converts any device
//!   format to the pipeline's and follows the system default (feature `devices`, on by
//!   default).
//! - [`call`]: the network half: [`MediaBackend`] / [`MediaSession`] and [`UdpBackend`], a
//!   session thread per call content driving str0m (ICE, DTLS 1.2 through OpenSSL, SRTP,
//!   RTP with rtcp-mux) over UDP sockets, with host, STUN and TURN (relayed) candidates.
//!
//! Audio format everywhere: 48 kHz, mono, `f32` samples in `[-1, 1]`, 20 ms frames of
//! [`FRAME_SAMPLES`] samples. Mono because a voice call has one voice: Opus carries it as a
//! mono stream inside the `opus/48000/2` RTP format every peer offers (RFC 7587), and a
//! stereo stream from a peer is downmixed by the decoder. `f32` because that is what sound
//! servers hand out and what libopus takes without conversion.

#![warn(missing_docs)]

pub mod audio;
pub mod call;
pub mod codec;
#[cfg(feature = "devices")]
pub mod devices;
pub mod jitter;
pub mod processing;

pub use audio::{AudioSink, AudioSource, RecordingSink, ToneSource};
pub use call::{
    AudioIo, CallConfig, CallError, CallStats, Candidate, CandidateKind, Codec, EventSink,
    Fingerprint, IceServer, MediaBackend, MediaDescription, MediaEvent, MediaSession, Setup,
    UdpBackend,
};
pub use codec::{Decoded, Decoder, Encoder, EncoderConfig, Error, Packet};
#[cfg(feature = "devices")]
pub use devices::{
    DeviceError, DeviceInfo, DeviceList, DeviceStats, Devices, Microphone, Role, Speaker,
};
pub use jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};
pub use processing::{AudioProcessor, ProcessingConfig, ProcessingError};

/// Sample rate of every frame: Opus's native rate, so nothing is resampled inside the pipeline.
pub const SAMPLE_RATE: u32 = 48_000;

/// Duration of one frame in milliseconds: the packet time WebRTC peers (Conversations, Dino) use.
pub const FRAME_MS: u32 = 20;

/// Samples in one 20 ms mono frame at 48 kHz.
pub const FRAME_SAMPLES: usize = (SAMPLE_RATE / 1000 * FRAME_MS) as usize;

/// One 20 ms mono frame of `f32` samples in `[-1, 1]`.
pub type Frame = [f32; FRAME_SAMPLES];

/// A frame of silence.
pub const SILENCE: Frame = [0.0; FRAME_SAMPLES];
