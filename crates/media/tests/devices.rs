//! Sound devices against a real PulseAudio server with null sinks: what is played on a sink
//! comes back on its monitor source, so a tone goes out through [`Speaker`] and back in
//! through [`Microphone`] with no sound card.
//!
//! Each test process starts its own server (`pulseaudio -n` with its
//! own runtime directory, the native protocol and two null sinks, `tern` and `tern_other`),
//! which exits by itself five seconds after the process's last connection closes. The tests
//! skip, saying so, only when `pulseaudio` is not installed.

#![cfg(feature = "devices")]

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::analyse;
use tern_media::{
    AudioSink, AudioSource, Devices, Frame, Microphone, Speaker, ToneSource, SILENCE,
};

/// A PulseAudio server for this test process.
struct Pulse {
    runtime: PathBuf,
}

impl Pulse {
    /// `pactl` against this server.
    fn pactl(&self, args: &[&str]) {
        let status = Command::new("pactl")
            .args(args)
            .env("PULSE_SERVER", self.server())
            .status()
            .expect("pactl (pulseaudio-utils)");
        assert!(status.success(), "pactl {args:?}");
    }

    fn server(&self) -> String {
        format!("unix:{}", self.runtime.join("pulse/native").display())
    }
}

/// The server, started on first use, and held by one test at a time (one test moves the
/// default speaker); `None` (after saying so) when PulseAudio is not installed.
fn pulse() -> Option<(&'static Pulse, std::sync::MutexGuard<'static, ()>)> {
    static PULSE: OnceLock<Option<Pulse>> = OnceLock::new();
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    PULSE.get_or_init(start).as_ref().map(|p| (p, turn))
}

fn start() -> Option<Pulse> {
    if Command::new("pulseaudio")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "SKIPPED: pulseaudio is not installed (apt-get install pulseaudio pulseaudio-utils)"
        );
        return None;
    }
    let runtime = std::env::temp_dir().join(format!("tern-pulse-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&runtime);
    std::fs::create_dir_all(&runtime).expect("runtime dir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    let status = Command::new("pulseaudio")
        .args([
            "-n",
            "--daemonize=yes",
            "--exit-idle-time=5",
            "--use-pid-file=yes",
            "-L",
            "module-native-protocol-unix auth-anonymous=1",
            "-L",
            "module-null-sink sink_name=tern sink_properties=device.description=Tern-Test-Output",
            "-L",
            "module-null-sink sink_name=tern_other",
        ])
        // Its own runtime directory and home (for the cookie): nothing of the machine's.
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("HOME", &runtime)
        .env_remove("PULSE_SERVER")
        // Off the session bus: a daemon there owns the name
        // `org.pulseaudio.Server`, and the next test's daemon, started while
        // this one idles out, would fail to start for want of it.
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .status()
        .expect("pulseaudio");
    assert!(status.success(), "pulseaudio did not start: {status}");
    let socket = runtime.join("pulse/native");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !socket.exists() {
        assert!(
            Instant::now() < deadline,
            "no PulseAudio socket at {socket:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pulse = Pulse { runtime };
    // cpal's PulseAudio host finds the server through the environment. Set once, before any
    // device is opened, by whichever test comes first (the others wait on the OnceLock).
    std::env::set_var("PULSE_SERVER", pulse.server());
    Some(pulse)
}

/// Plays a 440 Hz tone on `speaker` and records `microphone`, both on a 20 ms clock as a call
/// does, while `go_on` (given the time since the start and the speaker) says so.
fn play_and_record(
    speaker: &mut Speaker,
    microphone: &mut Microphone,
    mut go_on: impl FnMut(Duration, &Speaker) -> bool,
) -> Vec<f32> {
    let mut tone = ToneSource::new(440.0, 0.5);
    let start = Instant::now();
    let mut next = start;
    let mut recorded = Vec::new();
    let mut frame: Frame = SILENCE;
    while go_on(next - start, speaker) {
        tone.read(&mut frame);
        speaker.write(&frame);
        microphone.read(&mut frame);
        recorded.extend_from_slice(&frame);
        next += Duration::from_millis(20);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    recorded
}

#[test]
fn null_sink_is_listed_by_name() {
    let Some((_pulse, _turn)) = pulse() else {
        return;
    };
    let list = Devices::new().list();
    println!("{list:#?}");
    let tern = list
        .speakers
        .iter()
        .find(|d| d.id == "pulseaudio:tern")
        .expect("the null sink among the speakers");
    assert_eq!(tern.name, "Tern-Test-Output");
    assert!(tern.is_default, "the first sink loaded is the default");
    let other = list
        .speakers
        .iter()
        .find(|d| d.id == "pulseaudio:tern_other")
        .expect("the second null sink");
    assert!(!other.is_default);
    // Monitors are not microphones.
    assert!(
        list.microphones.iter().all(|d| !d.id.ends_with(".monitor")),
        "{:?}",
        list.microphones
    );
}

#[test]
fn a_tone_goes_out_the_speaker_and_back_in_the_microphone() {
    let Some((_pulse, _turn)) = pulse() else {
        return;
    };
    let mut speaker = Speaker::open(Some("pulseaudio:tern")).expect("speaker");
    let mut microphone = Microphone::open(Some("pulseaudio:tern.monitor")).expect("microphone");
    let recorded = play_and_record(&mut speaker, &mut microphone, |t, _| {
        t < Duration::from_secs(3)
    });
    let tone = analyse(&recorded, Duration::from_millis(500));
    println!(
        "{tone:?}; speaker {:?}; microphone {:?}",
        speaker.stats(),
        microphone.stats()
    );
    assert!((tone.frequency_hz - 440.0).abs() <= 2.0, "{tone:?}");
    assert!(tone.snr_db >= 30.0, "{tone:?}");
    assert_eq!(speaker.stats().device.as_deref(), Some("pulseaudio:tern"));
    assert_eq!(
        microphone.stats().device.as_deref(),
        Some("pulseaudio:tern.monitor")
    );
}

#[test]
fn the_default_speaker_is_followed_when_it_changes() {
    let Some((pulse, _turn)) = pulse() else {
        return;
    };
    // The default is `tern` (another test may have moved it: put it back).
    pulse.pactl(&["set-default-sink", "tern"]);
    let mut speaker = Speaker::open(None).expect("default speaker");
    assert_eq!(speaker.stats().device.as_deref(), Some("pulseaudio:tern"));
    let mut other =
        Microphone::open(Some("pulseaudio:tern_other.monitor")).expect("the other monitor");
    // A second of the tone on `tern`: none of it may reach `tern_other`.
    let before = play_and_record(&mut speaker, &mut other, |t, _| t < Duration::from_secs(1));
    assert!(
        before.iter().all(|x| x.abs() < 1e-3),
        "sound before the switch"
    );
    pulse.pactl(&["set-default-sink", "tern_other"]);
    // The watcher looks once a second.
    let switched = Instant::now();
    let _ = play_and_record(&mut speaker, &mut other, |t, speaker| {
        t < Duration::from_secs(8)
            && speaker_device(speaker).as_deref() != Some("pulseaudio:tern_other")
    });
    let took = switched.elapsed();
    assert_eq!(
        speaker_device(&speaker).as_deref(),
        Some("pulseaudio:tern_other"),
        "the speaker did not move to the new default"
    );
    // From then on the tone plays on the new default.
    let after = play_and_record(&mut speaker, &mut other, |t, _| t < Duration::from_secs(2));
    pulse.pactl(&["set-default-sink", "tern"]);
    let tone = analyse(&after, Duration::from_millis(300));
    println!(
        "moved {took:?} after the default changed; then {tone:?}; speaker {:?}; other monitor {:?}",
        speaker.stats(),
        other.stats()
    );
    assert!((tone.frequency_hz - 440.0).abs() <= 2.0, "{tone:?}");
    assert!(tone.snr_db >= 30.0, "{tone:?}");
}

fn speaker_device(speaker: &Speaker) -> Option<String> {
    speaker.stats().device
}

#[test]
fn a_missing_device_is_an_error_a_person_can_read() {
    let Some((_pulse, _turn)) = pulse() else {
        return;
    };
    let err = Speaker::open(Some("pulseaudio:no_such_sink")).expect_err("no such sink");
    assert_eq!(
        err.to_string(),
        "The speaker \"pulseaudio:no_such_sink\" is not connected"
    );
}
