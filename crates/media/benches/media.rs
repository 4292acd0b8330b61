//! Cost of the audio pipeline per 20 ms frame (Opus encode and decode, the jitter buffer, echo
//! cancellation with noise suppression and gain control), and the latency the jitter buffer
//! adds on a simulated jittery network.
//!
//! `cargo bench -p tern-media`; numbers in docs/benchmarks.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;

use tern_media::{
    AudioSource, Decoder, Encoder, EncoderConfig, JitterBuffer, JitterConfig, Packet, Playout,
    ToneSource, SILENCE,
};

#[path = "../tests/support/mod.rs"]
mod support;

/// 5 s of a 440 Hz tone, encoded.
fn tone_packets() -> Vec<Packet> {
    let mut tone = ToneSource::new(440.0, 0.5);
    let mut encoder = Encoder::new(&EncoderConfig::default()).expect("encoder");
    let mut frame = SILENCE;
    (0..250)
        .map(|_| {
            tone.read(&mut frame);
            encoder.encode(&frame).expect("encode")
        })
        .collect()
}

fn codec(c: &mut Criterion) {
    let mut tone = ToneSource::new(440.0, 0.5);
    let frames: Vec<_> = (0..250)
        .map(|_| {
            let mut frame = SILENCE;
            tone.read(&mut frame);
            frame
        })
        .collect();
    let packets = tone_packets();

    let mut encoder = Encoder::new(&EncoderConfig::default()).expect("encoder");
    let mut i = 0;
    c.bench_function("opus encode 20 ms", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            black_box(encoder.encode(&frames[i]).expect("encode"))
        })
    });

    let mut decoder = Decoder::new().expect("decoder");
    let mut out = SILENCE;
    let playouts: Vec<_> = packets.iter().cloned().map(Playout::Packet).collect();
    let mut i = 0;
    c.bench_function("opus decode 20 ms", |b| {
        b.iter(|| {
            i = (i + 1) % playouts.len();
            black_box(decoder.decode(&playouts[i], &mut out))
        })
    });

    let fecs: Vec<_> = packets.iter().cloned().map(Playout::Fec).collect();
    let mut i = 0;
    c.bench_function("opus decode 20 ms from FEC", |b| {
        b.iter(|| {
            i = (i + 1) % fecs.len();
            black_box(decoder.decode(&fecs[i], &mut out))
        })
    });

    c.bench_function("opus conceal 20 ms", |b| {
        b.iter(|| black_box(decoder.decode(&Playout::Conceal, &mut out)))
    });

    let mut encoder = Encoder::new(&EncoderConfig::default()).expect("encoder");
    let mut i = 0;
    c.bench_function("opus encode + decode 20 ms", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            let packet = encoder.encode(&frames[i]).expect("encode");
            black_box(decoder.decode(&Playout::Packet(packet), &mut out))
        })
    });

    let t0 = Instant::now();
    let mut jitter = JitterBuffer::new(JitterConfig::default());
    let mut n: u64 = 0;
    c.bench_function("jitter buffer push + pop", |b| {
        b.iter(|| {
            n += 1;
            let now = t0 + Duration::from_millis(20 * n);
            let p = Packet {
                seq: n as u16,
                timestamp: (n as u32).wrapping_mul(960),
                payload: vec![0; 80],
            };
            jitter.push(p, now);
            black_box(jitter.pop(now))
        })
    });
}

/// Time from a packet's arrival to its playout (what the jitter buffer adds), on a clean
/// network (30 ms delay) and on one with 30 ms base delay and 0–40 ms uniform jitter, 5 %
/// loss and 1 % duplicates, over one minute of call: the adaptive buffer Tern uses, and the
/// fixed 60 ms buffer it had before for comparison.
fn latency() {
    let impairment = support::Impairment {
        seed: 7,
        loss_percent: 5.0,
        duplicate_percent: 1.0,
        base_delay: Duration::from_millis(30),
        jitter: Duration::from_millis(40),
    };
    for (buffer, config) in [
        ("adaptive", JitterConfig::default()),
        (
            "fixed 60 ms",
            JitterConfig::fixed(Duration::from_millis(60)),
        ),
    ] {
        for (name, impairment) in [
            ("clean", support::Impairment::clean()),
            ("jittery", impairment.clone()),
        ] {
            let call = support::run_call_with(
                ToneSource::new(440.0, 0.5),
                3000,
                impairment,
                config.clone(),
            );
            let mut waits: Vec<f64> = call.waits.iter().map(|d| d.as_secs_f64() * 1e3).collect();
            waits.sort_by(f64::total_cmp);
            let pct = |p: f64| waits[((waits.len() - 1) as f64 * p) as usize];
            let mean = waits.iter().sum::<f64>() / waits.len() as f64;
            let tone = support::analyse(&call.samples, Duration::from_millis(200));
            println!(
                "jitter buffer {buffer}, wait ({name}): mean {mean:.1} ms, p50 {:.1} ms, p99 {:.1} ms, \
                 max {:.1} ms; {:?}; tone {:.2} Hz, SNR {:.1} dB",
                pct(0.5),
                pct(0.99),
                pct(1.0),
                call.stats,
                tone.frequency_hz,
                tone.snr_db,
            );
        }
    }
}

/// Echo cancellation, noise suppression and gain control as a call runs them every 20 ms: the
/// played frame as the far-end reference, then the microphone's frame. The far end is a
/// 600 Hz tone; the microphone hears its echo (40 ms later, 10 dB down) and a near-end talker
/// in 400 ms syllables, so the echo canceller and the double-talk logic do their full work.
#[cfg(feature = "processing")]
fn processing(c: &mut Criterion) {
    use std::f64::consts::{PI, TAU};
    use tern_media::{AudioProcessor, Frame, ProcessingConfig, FRAME_SAMPLES};

    let far = |i: usize| (0.5 * (TAU * 600.0 * i as f64 / 48_000.0).sin()) as f32;
    let near = |i: usize| {
        let t = i as f64 / 48_000.0;
        let phase = (t * 1.5).fract();
        let envelope = if phase < 0.6 {
            (PI * phase / 0.6).sin()
        } else {
            0.0
        };
        (0.2 * envelope * (TAU * 300.0 * t).sin()) as f32
    };
    // 10 s, looped.
    let frames = 500;
    let mut played: Vec<Frame> = vec![SILENCE; frames];
    let mut heard: Vec<Frame> = vec![SILENCE; frames];
    for f in 0..frames {
        for k in 0..FRAME_SAMPLES {
            let i = f * FRAME_SAMPLES + k;
            played[f][k] = far(i);
            heard[f][k] = near(i) + if i >= 1920 { 0.3 * far(i - 1920) } else { 0.0 };
        }
    }
    for (name, config) in [
        (
            "audio processing 20 ms (echo, noise, gain)",
            ProcessingConfig::default(),
        ),
        (
            "audio processing 20 ms (echo only)",
            ProcessingConfig {
                echo_cancellation: true,
                noise_suppression: false,
                gain_control: false,
            },
        ),
    ] {
        let mut processor = AudioProcessor::new(config).expect("processor");
        let mut i = 0;
        c.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % frames;
                processor.render(&played[i]);
                let mut frame = heard[i];
                processor.capture(&mut frame);
                black_box(frame)
            })
        });
    }
}

fn main() {
    latency();
    let mut c = Criterion::default().configure_from_args();
    codec(&mut c);
    #[cfg(feature = "processing")]
    processing(&mut c);
    c.final_summary();
}
