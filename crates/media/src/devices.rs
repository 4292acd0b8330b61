//! The computer's sound devices as an [`AudioSource`] (a microphone) and an [`AudioSink`] (a
//! speaker), through cpal.
//!
//! [`Devices`] is what the shell exposes: [`Devices::list`] for a settings screen,
//! [`Devices::open`] for a call (`None` means "the system default").
//!
//! How audio gets between a sound device and the call:
//!
//! ```text
//! sound server thread (cpal)                      call media thread, every 20 ms
//! mic callback: any format/rate/channels ──▶ f32, mean of channels, resampled to 48 kHz
//!                ──▶ ring (48 kHz mono) ──▶ Microphone::read: one 20 ms frame
//! Speaker::write: one 20 ms frame ──▶ ring (48 kHz mono) ──▶ speaker callback: resampled to
//!                the device's rate, copied to every channel, converted to its sample format
//! ```
//!
//! - **Hosts.** On Linux the PulseAudio host is used when a PulseAudio server answers (PipeWire
//!   desktops run `pipewire-pulse`, which speaks the same protocol), so sinks and sources are
//!   listed and opened by name; ALSA is the fallback. Elsewhere, the platform's host (CoreAudio,
//!   WASAPI).
//! - **Format.** A device is asked for 48 kHz mono `f32` first (PulseAudio, PipeWire, CoreAudio
//!   and WASAPI convert in the server), then 48 kHz in any format and channel count, then its
//!   own default. Whatever it gives is converted here: samples to `f32`, channels averaged
//!   (capture) or duplicated (playback), and the rate changed by [`LinearResampler`].
//! - **Rings.** Each direction has a mutex-guarded ring of 48 kHz mono samples between the
//!   device's thread and the call's 20 ms clock. Reading (or playing) starts once the ring
//!   holds [`PRIME_MS`]; when it runs dry the missing part is silence and the ring primes
//!   again; when it holds more than [`MAX_BUFFER_MS`] (the device's clock runs faster than
//!   the call's, or the call stalled) the oldest audio is dropped back to [`PRIME_MS`]. The
//!   added latency is therefore 40–160 ms per direction, usually ~40.
//! - **Following the system default.** A device opened as the default is watched by a thread
//!   that asks the sound server for the default every [`WATCH_EVERY`]; when it changes (a
//!   headset plugged in, a choice in the system's sound settings) or the stream fails (the
//!   device unplugged, the server restarted), the stream is opened again on the current
//!   default, and the call goes on. A device chosen by id is reopened when its stream fails;
//!   if it is gone, the system default takes over.
//! - **Errors** are [`DeviceError`]s whose text a person can act on; nothing here panics on a
//!   device's behalf.
//!
//! Built with the `devices` feature (on by default; Linux builds need `libasound2-dev` and
//! `pkg-config`).

use std::collections::VecDeque;
use std::fmt;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{
    BufferSize, DeviceId, ErrorKind, FromSample, Host, SampleFormat, SizedSample, StreamConfig,
    SupportedBufferSize, SupportedStreamConfig,
};

use crate::audio::{AudioSink, AudioSource};
use crate::call::AudioIo;
use crate::{Frame, FRAME_SAMPLES, SAMPLE_RATE};

/// Audio buffered before a ring starts delivering, in milliseconds.
pub const PRIME_MS: usize = 40;

/// Audio a ring holds at most before the oldest is dropped, in milliseconds.
pub const MAX_BUFFER_MS: usize = 160;

/// How often a device is checked against the system default and reopened after a failure.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);

/// How long opening a stream may take before the device counts as unavailable.
const OPEN_TIMEOUT: Duration = Duration::from_secs(3);

/// The period asked of a device: 10 ms at 48 kHz.
const DEVICE_PERIOD: u32 = 480;

const PRIME: usize = PRIME_MS * SAMPLE_RATE as usize / 1000;
const MAX_BUFFER: usize = MAX_BUFFER_MS * SAMPLE_RATE as usize / 1000;

/// Which way a device goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An input: microphone, headset microphone.
    Microphone,
    /// An output: speakers, headphones.
    Speaker,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Microphone => "microphone",
            Role::Speaker => "speaker",
        })
    }
}

/// Why a sound device cannot be used. The text is meant for the person at the computer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The system has no device of this kind.
    #[error("No {0} found")]
    NotFound(Role),
    /// The device chosen in the settings is not connected.
    #[error("The {role} \"{id}\" is not connected")]
    Missing {
        /// Microphone or speaker.
        role: Role,
        /// The id that was asked for.
        id: String,
    },
    /// Another program holds the device exclusively.
    #[error("The {0} is in use by another app")]
    Busy(Role),
    /// The system does not let Tern use the device.
    #[error("Tern is not allowed to use the {0}: check the system's privacy and sound settings")]
    Denied(Role),
    /// No sound server or sound system answers.
    #[error("No sound system is running ({0})")]
    NoSoundSystem(String),
    /// The device is there but cannot be used (the text says why).
    #[error("The {role} cannot be used: {detail}")]
    Failed {
        /// Microphone or speaker.
        role: Role,
        /// What the sound system said.
        detail: String,
    },
}

/// One sound device as a settings screen shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// A stable id to store and give to [`Devices::open`]: `host:name`, e.g.
    /// `pulseaudio:alsa_output.pci-0000_00_1f.3.analog-stereo`.
    pub id: String,
    /// The name people know it by ("Built-in Audio Analog Stereo").
    pub name: String,
    /// Whether it is the system default now.
    pub is_default: bool,
}

/// The sound devices of the computer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceList {
    /// Inputs (PulseAudio's monitors of outputs are left out).
    pub microphones: Vec<DeviceInfo>,
    /// Outputs.
    pub speakers: Vec<DeviceInfo>,
}

/// Lists and opens sound devices. Cheap: each call asks the sound system afresh.
#[derive(Debug, Clone, Default)]
pub struct Devices {
    _private: (),
}

impl Devices {
    /// The system's sound devices.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every microphone and speaker, the defaults marked. Empty when no sound system answers.
    pub fn list(&self) -> DeviceList {
        let host = cpal::default_host();
        DeviceList {
            microphones: list_role(&host, Role::Microphone),
            speakers: list_role(&host, Role::Speaker),
        }
    }

    /// Opens a microphone and a speaker for a call: by the id from [`Devices::list`], or the
    /// system default (followed as it changes) for `None`.
    pub fn open(
        &self,
        microphone: Option<&str>,
        speaker: Option<&str>,
    ) -> Result<AudioIo, DeviceError> {
        let source = Microphone::open(microphone)?;
        let sink = Speaker::open(speaker)?;
        Ok(AudioIo {
            source: Box::new(source),
            sink: Box::new(sink),
        })
    }
}

fn list_role(host: &Host, role: Role) -> Vec<DeviceInfo> {
    let default = match role {
        Role::Microphone => host.default_input_device(),
        Role::Speaker => host.default_output_device(),
    }
    .and_then(|d| d.id().ok());
    let devices = match role {
        Role::Microphone => host.input_devices().map(|d| d.collect::<Vec<_>>()),
        Role::Speaker => host.output_devices().map(|d| d.collect::<Vec<_>>()),
    };
    let mut out = Vec::new();
    for device in devices.unwrap_or_default() {
        let Ok(id) = device.id() else { continue };
        if role == Role::Microphone && is_monitor(&id) {
            continue;
        }
        let name = device
            .description()
            .map(|d| d.name().to_owned())
            .unwrap_or_else(|_| id.id().to_owned());
        out.push(DeviceInfo {
            is_default: default.as_ref() == Some(&id),
            id: id.to_string(),
            name,
        });
    }
    out
}

/// A PulseAudio source that records what a sink plays.
fn is_monitor(id: &DeviceId) -> bool {
    id.to_string().starts_with("pulseaudio:") && id.id().ends_with(".monitor")
}

/// Samples from the device's thread to the call's clock, or back.
#[derive(Debug, Default)]
struct Ring {
    samples: VecDeque<f32>,
    /// Delivering (false until [`PRIME`] samples are in, and again after running dry).
    primed: bool,
    /// Times the ring ran dry while delivering.
    underruns: u64,
    /// Times old audio was dropped because the ring was full.
    overflows: u64,
    /// The id of the device the stream is open on, if one is.
    device: Option<String>,
}

impl Ring {
    fn push(&mut self, samples: impl IntoIterator<Item = f32>) {
        self.samples.extend(samples);
        if self.samples.len() > MAX_BUFFER {
            let drop = self.samples.len() - PRIME;
            self.samples.drain(..drop);
            self.overflows += 1;
        }
    }

    /// The next sample, or `None` (silence) while priming or dry.
    fn pop(&mut self) -> Option<f32> {
        if !self.primed {
            if self.samples.len() < PRIME {
                return None;
            }
            self.primed = true;
        }
        let s = self.samples.pop_front();
        if s.is_none() {
            self.primed = false;
            self.underruns += 1;
        }
        s
    }

    /// Fills `out`, silence where the ring has nothing to give.
    fn read(&mut self, out: &mut [f32]) {
        if !self.primed && self.samples.len() < PRIME {
            out.fill(0.0);
            return;
        }
        for (i, slot) in out.iter_mut().enumerate() {
            match self.pop() {
                Some(s) => *slot = s,
                None => {
                    out[i..].fill(0.0);
                    return;
                }
            }
        }
    }
}

fn lock(ring: &Mutex<Ring>) -> MutexGuard<'_, Ring> {
    ring.lock().unwrap_or_else(|e| e.into_inner())
}

/// Changes the sample rate of a stream by linear interpolation between neighbouring input
/// samples.
///
/// Simple and without delay beyond one sample. Its error on a tone is about
/// `(2πf/rate)²/8` of the amplitude (−66 dB for 440 Hz at 44.1 kHz, −40 dB for 3.4 kHz, the
/// top of telephone speech), enough for a voice call. Going down in rate it does not
/// low-pass first, so content above the new Nyquist frequency folds back; sound servers
/// resample to 48 kHz themselves when asked, which is asked first, so this runs only for a
/// device that insists on its own rate (ALSA hardware at 44.1 kHz).
#[derive(Debug, Clone)]
pub struct LinearResampler {
    /// Input samples per output sample.
    step: f64,
    /// Position of the next output between `prev` (0) and `cur` (1).
    t: f64,
    prev: f32,
    cur: f32,
}

impl LinearResampler {
    /// From `from_hz` to `to_hz`.
    pub fn new(from_hz: u32, to_hz: u32) -> Self {
        Self {
            step: f64::from(from_hz.max(1)) / f64::from(to_hz.max(1)),
            t: 0.0,
            prev: 0.0,
            cur: 0.0,
        }
    }

    /// Takes the next input sample and gives the output samples it completes (none, one or
    /// more) to `out`.
    pub fn push(&mut self, sample: f32, mut out: impl FnMut(f32)) {
        self.prev = self.cur;
        self.cur = sample;
        while self.t < 1.0 {
            out(self.prev + (self.cur - self.prev) * self.t as f32);
            self.t += self.step;
        }
        self.t -= 1.0;
    }
}

/// What a device's watcher thread is told.
enum Event {
    /// The stream of generation `.0` failed.
    Failed(u64, cpal::Error),
    Stop,
}

/// The thread that owns a device's cpal stream (streams cannot leave the thread that made
/// them on every platform), reopens it when it fails and follows the system default.
struct Watcher {
    events: Sender<Event>,
    /// Disconnected when the thread ends.
    done: Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

/// How long dropping a device waits for its thread to close the stream. A sound server that
/// hangs must not hang the call that lets go of the device: past this, the thread is left to
/// finish on its own.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

impl Watcher {
    fn spawn(
        role: Role,
        wanted: Option<&str>,
        ring: Arc<Mutex<Ring>>,
    ) -> Result<Self, DeviceError> {
        let (events, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel::<()>();
        let wanted = wanted.map(str::to_owned);
        let tx = events.clone();
        let thread = std::thread::Builder::new()
            .name(format!("sound-{role}"))
            .spawn(move || {
                let _done = done_tx;
                watch(role, wanted, ring, tx, rx, ready_tx);
            })
            .map_err(|e| DeviceError::Failed {
                role,
                detail: e.to_string(),
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Self {
                events,
                done,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(DeviceError::Failed {
                    role,
                    detail: "the sound thread stopped".into(),
                })
            }
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.events.send(Event::Stop);
        if let Err(RecvTimeoutError::Disconnected) = self.done.recv_timeout(CLOSE_WAIT) {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// An open stream and what it was opened on.
struct Open {
    _stream: cpal::Stream,
    id: DeviceId,
}

/// The watcher thread's body.
fn watch(
    role: Role,
    wanted: Option<String>,
    ring: Arc<Mutex<Ring>>,
    events: Sender<Event>,
    rx: Receiver<Event>,
    ready: Sender<Result<(), DeviceError>>,
) {
    let wanted_id = match wanted.as_deref().map(str::parse::<DeviceId>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            let _ = ready.send(Err(DeviceError::Missing {
                role,
                id: wanted.unwrap_or_default(),
            }));
            return;
        }
    };
    let mut host = make_host(wanted_id.as_ref());
    let mut generation = 0;
    let mut open = match open_stream(&host, role, wanted_id.as_ref(), &ring, &events, generation) {
        Ok(o) => {
            let _ = ready.send(Ok(()));
            Some(o)
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    // A chosen device that disappears hands over to the default for the rest of the stream.
    let mut follow_default = wanted_id.is_none();
    loop {
        let reopen = match rx.recv_timeout(WATCH_EVERY) {
            Ok(Event::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Ok(Event::Failed(g, e)) => g == generation && is_fatal(&e),
            Err(RecvTimeoutError::Timeout) => match &open {
                None => true,
                Some(o) if follow_default => default_id(&host, role).is_some_and(|now| now != o.id),
                Some(_) => false,
            },
        };
        if !reopen {
            continue;
        }
        // Close first: a device held exclusively can only be opened again once released.
        drop(open.take());
        lock(&ring).device = None;
        generation += 1;
        let target = if follow_default {
            None
        } else {
            wanted_id.as_ref()
        };
        open = match open_stream(&host, role, target, &ring, &events, generation) {
            Ok(o) => Some(o),
            Err(DeviceError::NoSoundSystem(_)) => {
                // The server went away: a new connection next time.
                host = make_host(wanted_id.as_ref());
                None
            }
            Err(DeviceError::Missing { .. }) => {
                follow_default = true;
                open_stream(&host, role, None, &ring, &events, generation).ok()
            }
            Err(_) => None,
        };
    }
}

/// Errors after which a stream plays or records nothing more.
fn is_fatal(e: &cpal::Error) -> bool {
    !matches!(
        e.kind(),
        ErrorKind::Xrun | ErrorKind::DeviceChanged | ErrorKind::RealtimeDenied
    )
}

/// The host of a chosen device, else the system's (PulseAudio when it answers).
fn make_host(wanted: Option<&DeviceId>) -> Host {
    wanted
        .and_then(|id| cpal::host_from_id(id.host()).ok())
        .unwrap_or_else(cpal::default_host)
}

fn default_id(host: &Host, role: Role) -> Option<DeviceId> {
    match role {
        Role::Microphone => host.default_input_device(),
        Role::Speaker => host.default_output_device(),
    }
    .and_then(|d| d.id().ok())
}

fn device_error(role: Role, e: &cpal::Error) -> DeviceError {
    match e.kind() {
        ErrorKind::DeviceBusy => DeviceError::Busy(role),
        ErrorKind::PermissionDenied => DeviceError::Denied(role),
        ErrorKind::HostUnavailable => DeviceError::NoSoundSystem(e.to_string()),
        _ => DeviceError::Failed {
            role,
            detail: e.to_string(),
        },
    }
}

/// Opens `role` on the device with `id` (the default for `None`), feeding or draining `ring`.
fn open_stream(
    host: &Host,
    role: Role,
    id: Option<&DeviceId>,
    ring: &Arc<Mutex<Ring>>,
    events: &Sender<Event>,
    generation: u64,
) -> Result<Open, DeviceError> {
    let device = match id {
        Some(id) => host.device_by_id(id).ok_or_else(|| DeviceError::Missing {
            role,
            id: id.to_string(),
        })?,
        None => match role {
            Role::Microphone => host.default_input_device(),
            Role::Speaker => host.default_output_device(),
        }
        .ok_or(DeviceError::NotFound(role))?,
    };
    let device_id = device.id().map_err(|e| device_error(role, &e))?;
    let (config, format) = choose_config(&device, role)?;
    // A fixed 10 ms period keeps the echo path short; a device that refuses it gets its own.
    let mut attempts = vec![config];
    if matches!(config.buffer_size, BufferSize::Fixed(_)) {
        attempts.push(StreamConfig {
            buffer_size: BufferSize::Default,
            ..config
        });
    }
    let mut last = None;
    for config in attempts {
        let stream = match role {
            Role::Microphone => build_input(&device, &config, format, ring, events, generation),
            Role::Speaker => build_output(&device, &config, format, ring, events, generation),
        };
        match stream {
            Ok(stream) => {
                stream.play().map_err(|e| device_error(role, &e))?;
                lock(ring).device = Some(device_id.to_string());
                return Ok(Open {
                    _stream: stream,
                    id: device_id,
                });
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(DeviceError::NotFound(role)))
}

/// Sample formats converted here, best first.
const FORMATS: [SampleFormat; 7] = [
    SampleFormat::F32,
    SampleFormat::I16,
    SampleFormat::I32,
    SampleFormat::F64,
    SampleFormat::U16,
    SampleFormat::U8,
    SampleFormat::I8,
];

/// The configuration to ask for: 48 kHz mono f32 if the device can, else 48 kHz in the best
/// format with the fewest channels, else its default. `buffer_size` is `Fixed` when a 10 ms
/// period is within the device's range.
fn choose_config(
    device: &cpal::Device,
    role: Role,
) -> Result<(StreamConfig, SampleFormat), DeviceError> {
    let ranges = match role {
        Role::Microphone => device
            .supported_input_configs()
            .map(|r| r.collect::<Vec<_>>()),
        Role::Speaker => device
            .supported_output_configs()
            .map(|r| r.collect::<Vec<_>>()),
    }
    .map_err(|e| device_error(role, &e))?;
    let rank = |c: &SupportedStreamConfig| {
        let format = FORMATS
            .iter()
            .position(|f| *f == c.sample_format())
            .unwrap_or(usize::MAX);
        (format, c.channels())
    };
    let best = ranges
        .into_iter()
        .filter(|r| FORMATS.contains(&r.sample_format()) && r.channels() > 0)
        .filter_map(|r| r.try_with_sample_rate(SAMPLE_RATE))
        .min_by_key(rank);
    let chosen = match best {
        Some(c) => c,
        None => {
            let default = match role {
                Role::Microphone => device.default_input_config(),
                Role::Speaker => device.default_output_config(),
            }
            .map_err(|e| device_error(role, &e))?;
            if !FORMATS.contains(&default.sample_format()) {
                return Err(DeviceError::Failed {
                    role,
                    detail: format!("it only offers {} samples", default.sample_format()),
                });
            }
            default
        }
    };
    let period = DEVICE_PERIOD * chosen.sample_rate() / SAMPLE_RATE;
    let buffer_size = match chosen.buffer_size() {
        SupportedBufferSize::Range { min, max } if (*min..=*max).contains(&period) => {
            BufferSize::Fixed(period)
        }
        _ => BufferSize::Default,
    };
    let format = chosen.sample_format();
    Ok((
        StreamConfig {
            buffer_size,
            ..chosen.config()
        },
        format,
    ))
}

fn error_callback(events: &Sender<Event>, generation: u64) -> impl FnMut(cpal::Error) + Send {
    let events = events.clone();
    move |e| {
        let _ = events.send(Event::Failed(generation, e));
    }
}

fn build_input(
    device: &cpal::Device,
    config: &StreamConfig,
    format: SampleFormat,
    ring: &Arc<Mutex<Ring>>,
    events: &Sender<Event>,
    generation: u64,
) -> Result<cpal::Stream, DeviceError> {
    match format {
        SampleFormat::F32 => input::<f32>(device, config, ring, events, generation),
        SampleFormat::I16 => input::<i16>(device, config, ring, events, generation),
        SampleFormat::I32 => input::<i32>(device, config, ring, events, generation),
        SampleFormat::F64 => input::<f64>(device, config, ring, events, generation),
        SampleFormat::U16 => input::<u16>(device, config, ring, events, generation),
        SampleFormat::U8 => input::<u8>(device, config, ring, events, generation),
        SampleFormat::I8 => input::<i8>(device, config, ring, events, generation),
        other => Err(DeviceError::Failed {
            role: Role::Microphone,
            detail: format!("it only offers {other} samples"),
        }),
    }
}

fn input<T>(
    device: &cpal::Device,
    config: &StreamConfig,
    ring: &Arc<Mutex<Ring>>,
    events: &Sender<Event>,
    generation: u64,
) -> Result<cpal::Stream, DeviceError>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let channels = usize::from(config.channels.max(1));
    let mut resampler = LinearResampler::new(config.sample_rate, SAMPLE_RATE);
    let mut converted: Vec<f32> = Vec::with_capacity(4096);
    let ring = ring.clone();
    device
        .build_input_stream(
            *config,
            move |data: &[T], _: &cpal::InputCallbackInfo| {
                converted.clear();
                for frame in data.chunks_exact(channels) {
                    let sum: f32 = frame.iter().map(|s| s.to_sample::<f32>()).sum();
                    resampler.push(sum / channels as f32, |s| converted.push(s));
                }
                lock(&ring).push(converted.iter().copied());
            },
            error_callback(events, generation),
            Some(OPEN_TIMEOUT),
        )
        .map_err(|e| device_error(Role::Microphone, &e))
}

fn build_output(
    device: &cpal::Device,
    config: &StreamConfig,
    format: SampleFormat,
    ring: &Arc<Mutex<Ring>>,
    events: &Sender<Event>,
    generation: u64,
) -> Result<cpal::Stream, DeviceError> {
    match format {
        SampleFormat::F32 => output::<f32>(device, config, ring, events, generation),
        SampleFormat::I16 => output::<i16>(device, config, ring, events, generation),
        SampleFormat::I32 => output::<i32>(device, config, ring, events, generation),
        SampleFormat::F64 => output::<f64>(device, config, ring, events, generation),
        SampleFormat::U16 => output::<u16>(device, config, ring, events, generation),
        SampleFormat::U8 => output::<u8>(device, config, ring, events, generation),
        SampleFormat::I8 => output::<i8>(device, config, ring, events, generation),
        other => Err(DeviceError::Failed {
            role: Role::Speaker,
            detail: format!("it only takes {other} samples"),
        }),
    }
}

fn output<T>(
    device: &cpal::Device,
    config: &StreamConfig,
    ring: &Arc<Mutex<Ring>>,
    events: &Sender<Event>,
    generation: u64,
) -> Result<cpal::Stream, DeviceError>
where
    T: SizedSample + FromSample<f32>,
{
    let channels = usize::from(config.channels.max(1));
    let mut resampler = LinearResampler::new(SAMPLE_RATE, config.sample_rate);
    // Resampled samples not yet played (the resampler can give more than asked).
    let mut pending: VecDeque<f32> = VecDeque::with_capacity(4096);
    let ring = ring.clone();
    device
        .build_output_stream(
            *config,
            move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
                let frames = data.len() / channels;
                {
                    let mut ring = lock(&ring);
                    while pending.len() < frames {
                        let s = ring.pop().unwrap_or(0.0);
                        resampler.push(s, |x| pending.push_back(x));
                    }
                }
                for frame in data.chunks_exact_mut(channels) {
                    let s = pending.pop_front().unwrap_or(0.0).clamp(-1.0, 1.0);
                    frame.fill(T::from_sample(s));
                }
            },
            error_callback(events, generation),
            Some(OPEN_TIMEOUT),
        )
        .map_err(|e| device_error(Role::Speaker, &e))
}

/// Counters of a device so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// The id of the device the stream is open on now (`None` between a failure and the
    /// reopening).
    pub device: Option<String>,
    /// Times the ring ran dry (the device or the call stalled).
    pub underruns: u64,
    /// Times old audio was dropped because the ring was full.
    pub overflows: u64,
}

fn stats(ring: &Mutex<Ring>) -> DeviceStats {
    let ring = lock(ring);
    DeviceStats {
        device: ring.device.clone(),
        underruns: ring.underruns,
        overflows: ring.overflows,
    }
}

/// A microphone as an [`AudioSource`]: 20 ms frames at 48 kHz mono, whatever the device
/// records. Never ends; gives silence while the device is away.
pub struct Microphone {
    ring: Arc<Mutex<Ring>>,
    _watcher: Watcher,
}

impl Microphone {
    /// Opens the microphone with this id (from [`Devices::list`]), or the system default
    /// (followed as it changes) for `None`.
    pub fn open(id: Option<&str>) -> Result<Self, DeviceError> {
        let ring = Arc::new(Mutex::new(Ring::default()));
        let watcher = Watcher::spawn(Role::Microphone, id, ring.clone())?;
        Ok(Self {
            ring,
            _watcher: watcher,
        })
    }

    /// Which device records now, and how the buffering fared.
    pub fn stats(&self) -> DeviceStats {
        stats(&self.ring)
    }
}

impl fmt::Debug for Microphone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Microphone")
            .field("stats", &self.stats())
            .finish()
    }
}

impl AudioSource for Microphone {
    fn read(&mut self, frame: &mut Frame) -> bool {
        lock(&self.ring).read(frame);
        true
    }
}

/// A speaker as an [`AudioSink`]: takes 20 ms frames at 48 kHz mono and plays them on
/// every channel of the device, at its rate.
pub struct Speaker {
    ring: Arc<Mutex<Ring>>,
    _watcher: Watcher,
}

impl Speaker {
    /// Opens the speaker with this id (from [`Devices::list`]), or the system default
    /// (followed as it changes) for `None`.
    pub fn open(id: Option<&str>) -> Result<Self, DeviceError> {
        let ring = Arc::new(Mutex::new(Ring::default()));
        let watcher = Watcher::spawn(Role::Speaker, id, ring.clone())?;
        Ok(Self {
            ring,
            _watcher: watcher,
        })
    }

    /// Which device plays now, and how the buffering fared.
    pub fn stats(&self) -> DeviceStats {
        stats(&self.ring)
    }
}

impl fmt::Debug for Speaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Speaker")
            .field("stats", &self.stats())
            .finish()
    }
}

impl AudioSink for Speaker {
    fn write(&mut self, frame: &Frame) {
        debug_assert_eq!(frame.len(), FRAME_SAMPLES);
        lock(&self.ring).push(frame.iter().copied());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::TAU;

    fn tone(hz: f64, rate: u32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (TAU * hz * i as f64 / f64::from(rate)).sin() as f32 * 0.5)
            .collect()
    }

    /// Largest difference from the ideal tone at the output rate, after the first samples.
    fn worst_error(from: u32, to: u32, hz: f64) -> f32 {
        let input = tone(hz, from, from as usize);
        let mut r = LinearResampler::new(from, to);
        let mut out = Vec::new();
        for s in input {
            r.push(s, |x| out.push(x));
        }
        let expected_len = to as usize;
        assert!(
            out.len().abs_diff(expected_len) <= 2,
            "{} vs {expected_len}",
            out.len()
        );
        // The resampler delays by one input sample.
        let delay = f64::from(to) / f64::from(from);
        out.iter()
            .enumerate()
            .skip(4)
            .map(|(i, x)| {
                let t = (i as f64 - delay) / f64::from(to);
                (x - (TAU * hz * t).sin() as f32 * 0.5).abs()
            })
            .fold(0.0, f32::max)
    }

    #[test]
    fn resampler_keeps_a_tone_clean() {
        // 44.1 kHz devices up to 48 kHz and back, and 48 kHz passing through.
        assert!(worst_error(44_100, 48_000, 440.0) < 5e-4);
        assert!(worst_error(48_000, 44_100, 440.0) < 5e-4);
        assert!(worst_error(16_000, 48_000, 440.0) < 3e-3);
        assert!(worst_error(48_000, 48_000, 1000.0) < 1e-5);
    }

    #[test]
    fn ring_primes_runs_dry_and_drops_old_audio() {
        let mut ring = Ring::default();
        let mut frame = [1.0f32; FRAME_SAMPLES];
        // Not primed: silence, nothing taken.
        ring.push(std::iter::repeat_n(0.5, FRAME_SAMPLES));
        ring.read(&mut frame);
        assert!(frame.iter().all(|x| *x == 0.0));
        assert_eq!(ring.samples.len(), FRAME_SAMPLES);
        // Primed at 40 ms: one frame out, one left.
        ring.push(std::iter::repeat_n(0.5, FRAME_SAMPLES));
        ring.read(&mut frame);
        assert!(frame.iter().all(|x| *x == 0.5));
        ring.read(&mut frame);
        assert!(frame.iter().all(|x| *x == 0.5));
        // Dry: silence and an underrun.
        ring.read(&mut frame);
        assert!(frame.iter().all(|x| *x == 0.0));
        assert_eq!(ring.underruns, 1);
        // Overfull: back to 40 ms, newest kept.
        ring.push(std::iter::repeat_n(0.1, MAX_BUFFER));
        ring.push(std::iter::repeat_n(0.9, 10));
        assert_eq!(ring.samples.len(), PRIME);
        assert_eq!(ring.overflows, 1);
        assert_eq!(ring.samples.back(), Some(&0.9));
    }

    #[test]
    fn errors_read_like_advice() {
        assert_eq!(
            DeviceError::NotFound(Role::Microphone).to_string(),
            "No microphone found"
        );
        assert_eq!(
            DeviceError::Busy(Role::Microphone).to_string(),
            "The microphone is in use by another app"
        );
        assert_eq!(
            device_error(
                Role::Speaker,
                &cpal::Error::with_message(ErrorKind::DeviceBusy, "busy")
            ),
            DeviceError::Busy(Role::Speaker)
        );
    }

    #[test]
    fn an_unknown_id_is_missing_not_a_panic() {
        // Not even `host:name`: refused before any sound system is asked.
        let err = Microphone::open(Some("no colon here")).expect_err("no such device");
        assert!(matches!(err, DeviceError::Missing { .. }), "{err}");
    }
}
