//! Echo cancellation at the library level: a far-end tone is played (given as the render
//! reference), the microphone hears a delayed, quieter copy of it (the echo) plus the near
//! end talking, and the processed capture must keep the talker and lose the echo.

#![cfg(feature = "processing")]

mod support;

use std::f64::consts::{PI, TAU};

use support::power_at;
use tern_media::{AudioProcessor, Frame, ProcessingConfig, FRAME_SAMPLES, SAMPLE_RATE, SILENCE};

/// The far end's voice: a steady 600 Hz tone at half scale.
const FAR_HZ: f64 = 600.0;
/// The near end's voice: 300 Hz.
const NEAR_HZ: f64 = 300.0;
/// Speaker to microphone: 40 ms later, 10 dB down (laptop speakers next to the microphone).
const ECHO_DELAY_MS: usize = 40;
const ECHO_GAIN: f32 = 0.3;
const SECONDS: usize = 12;
/// Convergence time left out of the measurement.
const SKIP_SECONDS: usize = 2;

/// Talk like speech does: syllables of 400 ms (a half-sine envelope) at 1.5 per second, so
/// the near end is not a stationary sound the noise suppressor would learn as noise.
fn near_end(i: usize) -> f32 {
    let t = i as f64 / f64::from(SAMPLE_RATE);
    let phase = (t * 1.5).fract();
    let envelope = if phase < 0.6 {
        (PI * phase / 0.6).sin()
    } else {
        0.0
    };
    (0.2 * envelope * (TAU * NEAR_HZ * t).sin()) as f32
}

fn far_end(i: usize) -> f32 {
    (0.5 * (TAU * FAR_HZ * i as f64 / f64::from(SAMPLE_RATE)).sin()) as f32
}

struct Outcome {
    /// How much weaker the echo is after processing, in dB.
    echo_suppression_db: f64,
    /// Level of the near end after processing relative to before, in dB.
    near_change_db: f64,
}

/// Runs `SECONDS` of a call through a processor, frame by frame as a call session does:
/// the played frame goes in as the render reference, the captured frame is processed.
fn run(config: ProcessingConfig) -> Outcome {
    let mut processor = AudioProcessor::new(config).expect("processor");
    let delay = ECHO_DELAY_MS * SAMPLE_RATE as usize / 1000;
    let frames = SECONDS * 50;
    let mut captured = Vec::with_capacity(frames * FRAME_SAMPLES);
    let mut processed = Vec::with_capacity(frames * FRAME_SAMPLES);
    for f in 0..frames {
        let base = f * FRAME_SAMPLES;
        let mut played: Frame = SILENCE;
        let mut mic: Frame = SILENCE;
        for k in 0..FRAME_SAMPLES {
            let i = base + k;
            played[k] = far_end(i);
            let echo = if i >= delay {
                ECHO_GAIN * far_end(i - delay)
            } else {
                0.0
            };
            mic[k] = echo + near_end(i);
        }
        processor.render(&played);
        captured.extend_from_slice(&mic);
        processor.capture(&mut mic);
        processed.extend_from_slice(&mic);
    }
    let from = SKIP_SECONDS * SAMPLE_RATE as usize;
    let db = |after: f64, before: f64| 10.0 * (after / before).log10();
    let outcome = Outcome {
        echo_suppression_db: -db(
            power_at(&processed[from..], FAR_HZ),
            power_at(&captured[from..], FAR_HZ),
        ),
        near_change_db: db(
            power_at(&processed[from..], NEAR_HZ),
            power_at(&captured[from..], NEAR_HZ),
        ),
    };
    println!(
        "{config:?}: echo {:.1} dB down, near end {:+.1} dB",
        outcome.echo_suppression_db, outcome.near_change_db,
    );
    outcome
}

#[test]
fn echo_is_cancelled_and_the_talker_kept() {
    // The whole chain a call runs: echo cancellation, noise suppression, gain control.
    let outcome = run(ProcessingConfig::default());
    assert!(
        outcome.echo_suppression_db >= 20.0,
        "echo only {:.1} dB down",
        outcome.echo_suppression_db
    );
    assert!(
        outcome.near_change_db.abs() <= 4.0,
        "near end changed by {:+.1} dB",
        outcome.near_change_db
    );
}

#[test]
fn the_echo_canceller_alone_removes_the_echo() {
    // Not the noise suppressor taking the steady echo tone for noise: with it and the gain
    // control off, the echo still goes. (The near end loses some level in double talk here,
    // which the gain control makes up for in the whole chain.)
    let outcome = run(ProcessingConfig {
        echo_cancellation: true,
        noise_suppression: false,
        gain_control: false,
    });
    assert!(
        outcome.echo_suppression_db >= 20.0,
        "echo only {:.1} dB down",
        outcome.echo_suppression_db
    );
    assert!(
        outcome.near_change_db > -15.0,
        "near end lost {:+.1} dB",
        outcome.near_change_db
    );
}

#[test]
fn without_processing_stages_the_echo_stays() {
    // The measurement itself: with every stage off, nothing is removed.
    let outcome = run(ProcessingConfig {
        echo_cancellation: false,
        noise_suppression: false,
        gain_control: false,
    });
    assert!(
        outcome.echo_suppression_db.abs() < 1.0,
        "{:.1} dB",
        outcome.echo_suppression_db
    );
    assert!(
        outcome.near_change_db.abs() < 1.0,
        "{:+.1} dB",
        outcome.near_change_db
    );
}
