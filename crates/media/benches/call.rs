//! A whole call on loopback through the real stack (UDP sockets, ICE, DTLS-SRTP, RTP, Opus,
//! jitter buffer): mouth-to-ear latency, CPU of the session threads, and time from accepting
//! the answer to the first sound, directly and through a TURN relay (coturn).
//!
//! `cargo bench -p tern-media --bench call` (`-- turn` for the TURN figures alone, `-- latency`
//! for mouth-to-ear alone); numbers in docs/benchmarks.md.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tern_media::{
    AudioSource, CallConfig, Frame, JitterConfig, JitterStats, ToneSource, FRAME_SAMPLES,
};

#[path = "../tests/support/mod.rs"]
mod support;

use support::call::{loopback, start_call_each, start_call_with, Call, Route};
use support::turn::Coturn;

/// A burst of tone every second (200 ms of 440 Hz, then silence), noting when each burst's
/// first frame was handed over.
struct Bursts {
    frame: u64,
    tone: ToneSource,
    onsets: Arc<Mutex<Vec<Instant>>>,
}

const PERIOD_FRAMES: u64 = 50;
const BURST_FRAMES: u64 = 10;

impl AudioSource for Bursts {
    fn read(&mut self, frame: &mut Frame) -> bool {
        let phase = self.frame % PERIOD_FRAMES;
        self.frame += 1;
        if phase < BURST_FRAMES {
            self.tone.read(frame);
            if phase == 0 {
                self.onsets.lock().expect("onsets").push(Instant::now());
            }
        } else {
            frame.fill(0.0);
        }
        true
    }
}

/// Where bursts start in a recording: the first loud sample after 100 ms of quiet, timed as
/// the moment its frame reached the sink plus its place in the frame.
fn heard_onsets(samples: &[f32], frame_times: &[Instant]) -> Vec<Instant> {
    let quiet = 4800;
    let mut out = Vec::new();
    let mut last_loud: Option<usize> = None;
    for (i, x) in samples.iter().enumerate() {
        if x.abs() > 0.05 {
            if last_loud.is_none_or(|l| i - l > quiet) {
                if let Some(t) = frame_times.get(i / FRAME_SAMPLES) {
                    let offset = (i % FRAME_SAMPLES) as f64 / 48_000.0;
                    out.push(*t + Duration::from_secs_f64(offset));
                }
            }
            last_loud = Some(i);
        }
    }
    out
}

/// CPU seconds (user + system) of this process's threads whose name starts with `prefix`.
fn thread_cpu(prefix: &str) -> f64 {
    let mut ticks = 0u64;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return f64::NAN;
    };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: u64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0);
        let stime: u64 = fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0);
        ticks += utime + stime;
    }
    // USER_HZ is 100 on Linux.
    ticks as f64 / 100.0
}

fn stats_ms(mut v: Vec<f64>) -> String {
    if v.is_empty() {
        return "no samples".into();
    }
    v.sort_by(f64::total_cmp);
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    format!(
        "mean {mean:.1} ms, min {:.1}, median {:.1}, max {:.1} (n = {})",
        v[0],
        v[v.len() / 2],
        v[v.len() - 1],
        v.len()
    )
}

/// This process's resident memory, in MB (0 where /proc is missing).
fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// One call of `seconds` with bursts both ways: latencies (both directions), CPU of the
/// session threads per side in percent of one core, and the memory the call added per side
/// (resident, MB), and the callee's jitter buffer stats at the end.
fn latency_and_cpu(config: CallConfig, seconds: u64) -> (Vec<f64>, f64, f64, JitterStats) {
    let caller_onsets = Arc::new(Mutex::new(Vec::new()));
    let callee_onsets = Arc::new(Mutex::new(Vec::new()));
    let caller = Bursts {
        frame: 0,
        tone: ToneSource::new(440.0, 0.5),
        onsets: caller_onsets.clone(),
    };
    let callee = Bursts {
        frame: 25,
        tone: ToneSource::new(880.0, 0.5),
        onsets: callee_onsets.clone(),
    };
    let rss0 = rss_mb();
    let mut call: Call = start_call_with(config, caller, callee, Route::Direct, |_| {}, |_| {});
    assert!(call.wait_connected(Duration::from_secs(5)), "not connected");
    let cpu0 = thread_cpu("call-");
    let t0 = Instant::now();
    call.run_for(Duration::from_secs(seconds));
    let cpu = thread_cpu("call-") - cpu0;
    let wall = t0.elapsed().as_secs_f64();
    let memory = (rss_mb() - rss0) / 2.0;
    let stats = call.callee.session.stats().jitter;
    call.close();
    let mut latencies = Vec::new();
    for (onsets, side) in [
        (&caller_onsets, &call.callee),
        (&callee_onsets, &call.caller),
    ] {
        let sent = onsets.lock().expect("onsets").clone();
        let rec = side.recording.lock().expect("recording");
        for heard in heard_onsets(&rec.samples, &rec.frame_times) {
            if let Some(said) = sent.iter().rev().find(|t| **t <= heard) {
                let ms = (heard - *said).as_secs_f64() * 1e3;
                if ms < 500.0 {
                    latencies.push(ms);
                }
            }
        }
    }
    // Two sessions ran: one per side of the call.
    (latencies, cpu / wall * 100.0 / 2.0, memory, stats)
}

/// Accept-to-first-sound of `n` calls at the caller (the callee's tone is continuous).
fn first_audio(n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let mut call = start_call_with(
                loopback(),
                ToneSource::new(440.0, 0.5),
                ToneSource::new(880.0, 0.5),
                Route::Direct,
                |_| {},
                |_| {},
            );
            call.pump(Duration::from_secs(5), |c| c.caller.first_sound().is_some());
            let first = call.caller.first_sound().expect("sound");
            let connected = call.accepted_at.elapsed();
            call.close();
            let _ = connected;
            (first - call.accepted_at).as_secs_f64() * 1e3
        })
        .collect()
}

/// As [`first_audio`], both sides relay-only through coturn, and accept-to-connected: each
/// side allocates when its session is made (the callee just before the answer is accepted),
/// so the callee's allocation is within the time measured.
fn first_audio_relayed(coturn: &Coturn, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut first = Vec::new();
    let mut connected = Vec::new();
    for i in 0..n {
        let config = |name: &str| CallConfig {
            ice_servers: vec![coturn.ice_server(name)],
            relay_only: true,
            ..loopback()
        };
        let mut call = start_call_each(
            config(&format!("caller{i}")),
            config(&format!("callee{i}")),
            ToneSource::new(440.0, 0.5),
            ToneSource::new(880.0, 0.5),
            Route::Direct,
            |_| {},
            |_| {},
        );
        assert!(call.wait_connected(Duration::from_secs(8)), "not connected");
        connected.push(call.accepted_at.elapsed().as_secs_f64() * 1e3);
        call.pump(Duration::from_secs(5), |c| c.caller.first_sound().is_some());
        let heard = call.caller.first_sound().expect("sound");
        assert!(call.caller.session.stats().relayed, "relayed");
        call.close();
        first.push((heard - call.accepted_at).as_secs_f64() * 1e3);
    }
    (first, connected)
}

fn main() {
    // `cargo bench` passes --bench; `turn` runs the TURN figures alone, `latency` the
    // mouth-to-ear figures alone.
    if std::env::args().any(|a| a == "latency") {
        mouth_to_ear();
        return;
    }
    let coturn = Coturn::start();
    let (first, connected) = first_audio_relayed(&coturn, 10);
    println!(
        "relay-only both sides through coturn, accept_answer to connected (10 calls): {}",
        stats_ms(connected)
    );
    println!(
        "relay-only both sides through coturn, accept_answer to first sound at the caller: {}",
        stats_ms(first)
    );
    drop(coturn);
    if std::env::args().any(|a| a == "turn") {
        return;
    }
    println!(
        "time from accept_answer to first sound at the caller (10 calls): {}",
        stats_ms(first_audio(10))
    );
    mouth_to_ear();
}

/// Mouth-to-ear latency, CPU and memory with the adaptive jitter buffer and with fixed ones.
fn mouth_to_ear() {
    for (name, jitter) in [
        ("adaptive (default)", JitterConfig::default()),
        (
            "fixed 60 ms (before)",
            JitterConfig::fixed(Duration::from_millis(60)),
        ),
        (
            "fixed 20 ms",
            JitterConfig::fixed(Duration::from_millis(20)),
        ),
    ] {
        let config = CallConfig {
            jitter,
            ..loopback()
        };
        let (latencies, cpu, memory, stats) = latency_and_cpu(config, 20);
        println!(
            "jitter buffer {name}: mouth-to-ear {}; CPU of one side's threads {cpu:.2} % of a core; memory one side added {memory:.1} MB; callee's buffer at the end: {stats:?}",
            stats_ms(latencies)
        );
    }
}
