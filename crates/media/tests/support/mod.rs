//! Shared by the tone tests and the bench: a simulated network between encoder and jitter
//! buffer, a whole call path on a virtual clock, and a tone analysis of what came out.

#![allow(dead_code)]

pub mod call;
pub mod turn;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

use tern_media::{
    AudioSink, AudioSource, Decoded, Decoder, Encoder, EncoderConfig, JitterBuffer, JitterConfig,
    JitterStats, Packet, RecordingSink, ToneSource, FRAME_MS, SAMPLE_RATE, SILENCE,
};

/// What the network does to packets. Delays are uniform in `[base, base + jitter]`, so with
/// a jitter above 20 ms packets overtake each other.
#[derive(Debug, Clone)]
pub struct Impairment {
    pub seed: u64,
    pub loss_percent: f64,
    pub duplicate_percent: f64,
    pub base_delay: Duration,
    pub jitter: Duration,
}

impl Impairment {
    pub fn clean() -> Self {
        Self {
            seed: 1,
            loss_percent: 0.0,
            duplicate_percent: 0.0,
            base_delay: Duration::from_millis(30),
            jitter: Duration::ZERO,
        }
    }
}

/// Packets in flight, delivered in order of arrival time.
pub struct Network {
    rng: StdRng,
    impairment: Impairment,
    in_flight: BinaryHeap<Reverse<(Instant, u64, PacketOrd)>>,
    sent: u64,
    pub dropped: u64,
}

#[derive(PartialEq, Eq)]
struct PacketOrd(Packet);
impl PartialOrd for PacketOrd {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PacketOrd {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.seq.cmp(&other.0.seq)
    }
}

impl Network {
    pub fn new(impairment: Impairment) -> Self {
        Self {
            rng: StdRng::seed_from_u64(impairment.seed),
            impairment,
            in_flight: BinaryHeap::new(),
            sent: 0,
            dropped: 0,
        }
    }

    fn delay(&mut self) -> Duration {
        let jitter = self.impairment.jitter.as_secs_f64();
        self.impairment.base_delay + Duration::from_secs_f64(self.rng.gen::<f64>() * jitter)
    }

    pub fn send(&mut self, packet: Packet, now: Instant) {
        if self.rng.gen::<f64>() * 100.0 < self.impairment.loss_percent {
            self.dropped += 1;
            return;
        }
        if self.rng.gen::<f64>() * 100.0 < self.impairment.duplicate_percent {
            let at = now + self.delay();
            self.sent += 1;
            self.in_flight
                .push(Reverse((at, self.sent, PacketOrd(packet.clone()))));
        }
        let at = now + self.delay();
        self.sent += 1;
        self.in_flight
            .push(Reverse((at, self.sent, PacketOrd(packet))));
    }

    /// Packets that have arrived by `now`, with their arrival times, earliest first.
    pub fn deliver(&mut self, now: Instant) -> Vec<(Instant, Packet)> {
        let mut out = Vec::new();
        while let Some(Reverse((at, _, _))) = self.in_flight.peek() {
            if *at > now {
                break;
            }
            if let Some(Reverse((at, _, PacketOrd(p)))) = self.in_flight.pop() {
                out.push((at, p));
            }
        }
        out
    }
}

/// What a simulated call produced.
pub struct CallResult {
    pub samples: Vec<f32>,
    pub stats: JitterStats,
    pub kinds: Vec<Decoded>,
    /// For every frame played from its own packet: time from its arrival to its playout.
    pub waits: Vec<Duration>,
}

/// ToneSource → Encoder → Network → JitterBuffer → Decoder → RecordingSink for `frames`
/// 20 ms ticks on a virtual clock. Arrivals between ticks are pushed at their own times.
pub fn run_call(tone: ToneSource, frames: u64, impairment: Impairment) -> CallResult {
    run_call_with(tone, frames, impairment, JitterConfig::default())
}

/// [`run_call`] with a jitter buffer set up as `config`.
pub fn run_call_with(
    tone: ToneSource,
    frames: u64,
    impairment: Impairment,
    config: JitterConfig,
) -> CallResult {
    let t0 = Instant::now();
    let tick = Duration::from_millis(u64::from(FRAME_MS));
    let mut source = tone.with_frames(frames);
    let mut encoder = Encoder::new(&EncoderConfig::default()).expect("encoder");
    let mut network = Network::new(impairment);
    let mut jitter = JitterBuffer::new(config);
    let mut decoder = Decoder::new().expect("decoder");
    let mut sink = RecordingSink::new();
    let mut kinds = Vec::new();
    let mut arrivals = std::collections::HashMap::new();
    let mut waits = Vec::new();
    let mut frame = SILENCE;
    for i in 0..frames {
        let now = t0 + tick * i as u32;
        if source.read(&mut frame) {
            network.send(encoder.encode(&frame).expect("encode"), now);
        }
        for (at, packet) in network.deliver(now) {
            arrivals.entry(packet.seq).or_insert(at);
            jitter.push(packet, at);
        }
        let playout = jitter.pop(now);
        if let tern_media::Playout::Packet(p) = &playout {
            if let Some(at) = arrivals.remove(&p.seq) {
                waits.push(now.saturating_duration_since(at));
            }
        }
        kinds.push(decoder.decode(&playout, &mut frame));
        sink.write(&frame);
    }
    CallResult {
        samples: sink.into_samples(),
        stats: jitter.stats().clone(),
        kinds,
        waits,
    }
}

/// The dominant tone of a signal and how clean it is.
#[derive(Debug, Clone, Copy)]
pub struct ToneAnalysis {
    /// Frequency of the strongest component, interpolated between bins.
    pub frequency_hz: f64,
    /// Power within a few bins of that peak over the power everywhere else (DC excluded).
    pub snr_db: f64,
}

/// Analyses `samples` (48 kHz) after skipping the first `skip` of start-up (silence while the
/// jitter buffer fills, the codec's look-ahead), with a Hann window over the rest.
pub fn analyse(samples: &[f32], skip: Duration) -> ToneAnalysis {
    let skip = (skip.as_secs_f64() * f64::from(SAMPLE_RATE)) as usize;
    let signal = &samples[skip.min(samples.len())..];
    let n = signal.len();
    assert!(n >= 4800, "at least 100 ms to analyse");
    let mut buf: Vec<Complex<f64>> = signal
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / (n - 1) as f64).cos();
            Complex::new(f64::from(*x) * w, 0.0)
        })
        .collect();
    FftPlanner::new().plan_fft_forward(n).process(&mut buf);
    let power: Vec<f64> = buf[..n / 2].iter().map(|c| c.norm_sqr()).collect();
    // DC and the Hann window's spread of it are not part of either.
    let first = 3;
    let peak = (first..power.len() - 1)
        .max_by(|a, b| power[*a].total_cmp(&power[*b]))
        .expect("bins");
    // Parabolic interpolation on log power (exact for a Gaussian, within 0.1 bin for Hann).
    let (a, b, c) = (
        power[peak - 1].max(1e-30).ln(),
        power[peak].max(1e-30).ln(),
        power[peak + 1].max(1e-30).ln(),
    );
    let denom = a - 2.0 * b + c;
    let offset = if denom.abs() > 1e-12 {
        0.5 * (a - c) / denom
    } else {
        0.0
    };
    let bin_hz = f64::from(SAMPLE_RATE) / n as f64;
    // Hann's main lobe is ±2 bins; one more for the tone falling between bins.
    let lobe = 3;
    let (mut tone, mut rest) = (0.0, 0.0);
    for (k, p) in power.iter().enumerate().skip(first) {
        if k.abs_diff(peak) <= lobe {
            tone += p;
        } else {
            rest += p;
        }
    }
    ToneAnalysis {
        frequency_hz: (peak as f64 + offset.clamp(-0.5, 0.5)) * bin_hz,
        snr_db: 10.0 * (tone / rest.max(1e-30)).log10(),
    }
}

/// Power of the `hz` component of `samples` (48 kHz) by the Goertzel algorithm, normalised
/// so that a sine of amplitude `a` gives about `a² / 4`. Exact for a tone that fits a whole
/// number of periods into the window; otherwise leakage, so compare like with like.
pub fn power_at(samples: &[f32], hz: f64) -> f64 {
    let w = std::f64::consts::TAU * hz / f64::from(SAMPLE_RATE);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for x in samples {
        let s = f64::from(*x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let n = samples.len().max(1) as f64;
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (n * n)
}
