//! Opus encoding and decoding (libopus through the `opus` crate).
//!
//! The encoder is set up the way WebRTC peers (Conversations, Dino) expect a voice call:
//! VoIP application, 48 kHz, one 20 ms frame per packet, in-band FEC (`useinbandfec=1`), DTX
//! and an expected loss of 10 %, at about 32 kbit/s. The decoder never fails a frame: a
//! missing packet is concealed (PLC), a packet that cannot be decoded is too, and a lost packet
//! whose successor has arrived is recovered from the successor's FEC data.

use crate::jitter::Playout;
use crate::{Frame, FRAME_SAMPLES, SAMPLE_RATE};

/// Largest packet the encoder produces: libopus's limit for one frame (RFC 6716, 3.2.1).
const MAX_PACKET: usize = 1275;

/// What went wrong setting up or running the codec.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// libopus refused a setting or a frame.
    #[error("opus: {0}")]
    Opus(#[from] opus::Error),
}

/// How the encoder is set up. [`Default`] is what Tern uses in a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Target bitrate in bit/s: 32 kbit/s is transparent for wideband voice with FEC on top.
    pub bitrate: i32,
    /// Expected packet loss in percent: the higher, the more FEC data libopus adds.
    pub expected_loss_percent: i32,
    /// In-band FEC: each packet carries a low-rate copy of the previous frame.
    pub fec: bool,
    /// Discontinuous transmission: silence is sent as tiny packets the decoder fills with noise.
    pub dtx: bool,
    /// First sequence number. RTP wants a random one; the transport picks it.
    pub first_seq: u16,
    /// First timestamp (48 kHz clock). RTP wants a random one; the transport picks it.
    pub first_timestamp: u32,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self {
            bitrate: 32_000,
            expected_loss_percent: 10,
            fec: true,
            dtx: true,
            first_seq: 0,
            first_timestamp: 0,
        }
    }
}

/// One encoded 20 ms frame with the metadata RTP will carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// RTP sequence number: one more per packet, wrapping at 65535.
    pub seq: u16,
    /// RTP timestamp on the 48 kHz clock: 960 more per packet, wrapping.
    pub timestamp: u32,
    /// The Opus packet. One or two bytes is a DTX frame (silence).
    pub payload: Vec<u8>,
}

/// Turns 20 ms frames into Opus packets, numbered.
pub struct Encoder {
    inner: opus::Encoder,
    seq: u16,
    timestamp: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("seq", &self.seq)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// An encoder for a voice call.
    pub fn new(config: &EncoderConfig) -> Result<Self, Error> {
        let mut inner =
            opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)?;
        inner.set_bitrate(opus::Bitrate::Bits(config.bitrate))?;
        inner.set_inband_fec(config.fec)?;
        inner.set_packet_loss_perc(config.expected_loss_percent.clamp(0, 100))?;
        inner.set_dtx(config.dtx)?;
        Ok(Self {
            inner,
            seq: config.first_seq,
            timestamp: config.first_timestamp,
            buf: vec![0; MAX_PACKET],
        })
    }

    /// Encodes one frame into the next packet.
    pub fn encode(&mut self, frame: &Frame) -> Result<Packet, Error> {
        let len = self.inner.encode_float(frame, &mut self.buf)?;
        let packet = Packet {
            seq: self.seq,
            timestamp: self.timestamp,
            payload: self.buf[..len].to_vec(),
        };
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(FRAME_SAMPLES as u32);
        Ok(packet)
    }
}

/// How a frame came out of the [`Decoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// Decoded from its own packet.
    Packet,
    /// A lost packet, recovered from the FEC data of the packet after it.
    Fec,
    /// A lost (or undecodable) packet, concealed from what came before.
    Concealed,
    /// Nothing to play yet: silence.
    Silence,
}

/// Turns what the jitter buffer says into 20 ms frames; never fails a frame.
pub struct Decoder {
    inner: opus::Decoder,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder").finish_non_exhaustive()
    }
}

impl Decoder {
    /// A mono 48 kHz decoder (a stereo stream is downmixed).
    pub fn new() -> Result<Self, Error> {
        Ok(Self {
            inner: opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono)?,
        })
    }

    /// Fills `out` with the frame `playout` stands for and says how it was made.
    ///
    /// A packet that is not exactly one 20 ms frame, or that libopus rejects, is concealed
    /// rather than played: the peer controls its bytes.
    pub fn decode(&mut self, playout: &Playout, out: &mut Frame) -> Decoded {
        let made = match playout {
            Playout::Silence => {
                out.fill(0.0);
                return Decoded::Silence;
            }
            Playout::Conceal => None,
            Playout::Packet(p) => self
                .decode_payload(&p.payload, false, out)
                .then_some(Decoded::Packet),
            Playout::Fec(next) => self
                .decode_payload(&next.payload, true, out)
                .then_some(Decoded::Fec),
        };
        made.unwrap_or_else(|| {
            self.conceal(out);
            Decoded::Concealed
        })
    }

    /// Decodes one packet (or its FEC part) if it is one 20 ms frame; false otherwise.
    fn decode_payload(&mut self, payload: &[u8], fec: bool, out: &mut Frame) -> bool {
        if payload.is_empty() {
            return false;
        }
        match self.inner.get_nb_samples(payload) {
            Ok(n) if n == FRAME_SAMPLES => {}
            _ => return false,
        }
        matches!(self.inner.decode_float(payload, out, fec), Ok(n) if n == FRAME_SAMPLES)
    }

    /// Packet loss concealment; silence if even that fails.
    fn conceal(&mut self, out: &mut Frame) {
        match self.inner.decode_float(&[], out, false) {
            Ok(n) if n == FRAME_SAMPLES => {}
            _ => out.fill(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AudioSource, ToneSource, SILENCE};

    #[test]
    fn packets_are_numbered_and_wrap() {
        let config = EncoderConfig {
            first_seq: 65_534,
            first_timestamp: u32::MAX - 959,
            ..EncoderConfig::default()
        };
        let mut enc = Encoder::new(&config).expect("encoder");
        let mut tone = ToneSource::new(440.0, 0.3);
        let mut frame = SILENCE;
        let mut seqs = Vec::new();
        let mut stamps = Vec::new();
        for _ in 0..3 {
            tone.read(&mut frame);
            let p = enc.encode(&frame).expect("encode");
            assert!(!p.payload.is_empty() && p.payload.len() <= MAX_PACKET);
            seqs.push(p.seq);
            stamps.push(p.timestamp);
        }
        assert_eq!(seqs, [65_534, 65_535, 0]);
        assert_eq!(stamps, [u32::MAX - 959, 0, 960]);
    }

    #[test]
    fn hostile_payloads_are_concealed_not_played() {
        let mut dec = Decoder::new().expect("decoder");
        let mut out = SILENCE;
        // A 60 ms packet (TOC config 3 = SILK NB 60 ms), an invalid code-3 packet, garbage.
        for payload in [vec![0x18, 0, 0], vec![0x03], vec![0xff; 2000], Vec::new()] {
            let p = Packet {
                seq: 1,
                timestamp: 0,
                payload,
            };
            assert_eq!(
                dec.decode(&Playout::Packet(p.clone()), &mut out),
                Decoded::Concealed
            );
            assert_eq!(dec.decode(&Playout::Fec(p), &mut out), Decoded::Concealed);
        }
        assert_eq!(dec.decode(&Playout::Silence, &mut out), Decoded::Silence);
        assert!(out.iter().all(|x| *x == 0.0));
    }

    #[test]
    fn dtx_makes_silence_tiny() {
        let mut enc = Encoder::new(&EncoderConfig::default()).expect("encoder");
        let sizes: Vec<usize> = (0..50)
            .map(|_| enc.encode(&SILENCE).expect("encode").payload.len())
            .collect();
        // After a short hangover, silence goes out as DTX frames of one or two bytes, with a
        // comfort-noise update every 400 ms.
        let tiny = sizes[10..].iter().filter(|n| **n <= 2).count();
        assert!(tiny >= 36, "{sizes:?}");
    }
}
