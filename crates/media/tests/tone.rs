//! The call path end to end at the media level: a tone goes in, the recording coming out has
//! the same frequency and little else, on a clean network and on a lossy, jittery one.

mod support;

use std::time::Duration;

use support::{analyse, run_call, Impairment};
use tern_media::{AudioSink, Decoded, RecordingSink, ToneSource, SILENCE};

/// Start-up skipped before analysis: the jitter buffer's start delay, the codec's look-ahead,
/// and Opus settling on the signal.
const SKIP: Duration = Duration::from_millis(200);

/// Three seconds of call.
const FRAMES: u64 = 150;

#[test]
fn clean_path_keeps_the_tone() {
    let call = run_call(ToneSource::new(440.0, 0.5), FRAMES, Impairment::clean());
    let tone = analyse(&call.samples, SKIP);
    println!("clean 440 Hz: {tone:?} {:?}", call.stats);
    assert!((tone.frequency_hz - 440.0).abs() <= 2.0, "{tone:?}");
    assert!(tone.snr_db >= 30.0, "{tone:?}");
    assert_eq!(call.stats.concealed + call.stats.recovered, 0);
}

#[test]
fn clean_path_keeps_a_1khz_tone() {
    let call = run_call(ToneSource::new(1000.0, 0.3), FRAMES, Impairment::clean());
    let tone = analyse(&call.samples, SKIP);
    println!("clean 1 kHz: {tone:?}");
    assert!((tone.frequency_hz - 1000.0).abs() <= 2.0, "{tone:?}");
    assert!(tone.snr_db >= 30.0, "{tone:?}");
}

#[test]
fn lossy_jittery_path_keeps_the_tone() {
    let impairment = Impairment {
        seed: 7,
        loss_percent: 5.0,
        duplicate_percent: 1.0,
        base_delay: Duration::from_millis(30),
        jitter: Duration::from_millis(40),
    };
    let call = run_call(ToneSource::new(440.0, 0.5), FRAMES * 2, impairment);
    let tone = analyse(&call.samples, SKIP);
    println!("5 % loss, 40 ms jitter: {tone:?} {:?}", call.stats);
    assert!((tone.frequency_hz - 440.0).abs() <= 2.0, "{tone:?}");
    assert!(tone.snr_db >= 20.0, "{tone:?}");
    // The losses were there and were covered, mostly by FEC.
    let s = &call.stats;
    assert!(s.recovered > 0, "{s:?}");
    assert!(s.recovered >= s.concealed, "{s:?}");
    // The adaptive buffer grew from 20 ms to cover 40 ms of jitter, with no packet late.
    assert_eq!(s.late, 0, "{s:?}");
    assert!(s.target_delay_ms >= 40, "{s:?}");
    assert!(call.kinds.contains(&Decoded::Fec));
}

#[test]
fn the_analysis_tells_a_wrong_tone_and_silence() {
    // The wrong tone is found as such, so a pipeline swapping frequencies would fail.
    let call = run_call(ToneSource::new(660.0, 0.5), FRAMES, Impairment::clean());
    let tone = analyse(&call.samples, SKIP);
    assert!((tone.frequency_hz - 440.0).abs() > 100.0, "{tone:?}");
    assert!((tone.frequency_hz - 660.0).abs() <= 2.0, "{tone:?}");
    // Silence (or noise) has no tone to speak of.
    let mut sink = RecordingSink::new();
    for _ in 0..FRAMES {
        sink.write(&SILENCE);
    }
    let silent = analyse(sink.samples(), SKIP);
    assert!(
        silent.snr_db < 30.0 || (silent.frequency_hz - 440.0).abs() > 2.0,
        "{silent:?}"
    );
    // A recording that is only half the tone (the rest concealed into silence) fails the SNR.
    let mut samples = call.samples.clone();
    for (i, s) in samples.iter_mut().enumerate() {
        if (i / 4800) % 2 == 1 {
            *s = 0.0;
        }
    }
    assert!(analyse(&samples, SKIP).snr_db < 20.0);
}
