//! A bounded, adaptive jitter buffer.
//!
//! Packets go in as they arrive (out of order, late, twice, or never); every 20 ms the caller
//! takes out one [`Playout`]: the packet due now, the next packet for FEC recovery when the
//! due one is missing but its successor is here, or concealment.
//!
//! Playout is scheduled by sequence number: it starts [`JitterConfig::min_delay`] after the
//! first packet arrives and then advances one packet per tick. How long a packet may be late
//! is the *playout delay*: the time from the moment the fastest recent packet would have
//! arrived (its RTP timestamp plus the smallest transit time of the last five seconds) to its
//! turn. The buffer keeps that delay near a *target* that follows the network, the way
//! WebRTC's NetEq does, simplified:
//!
//! - **Estimate.** Every arriving packet's transit time (arrival minus RTP timestamp) goes
//!   into a window of the last 250 (5 s). The jitter is the 99th percentile of the window less
//!   its minimum; the target is that plus [`JitterConfig::margin`] (one frame, so that a lost
//!   packet's successor is usually there for FEC), clamped to
//!   [`JitterConfig::min_delay`] ..= [`JitterConfig::max_delay`]. A packet arriving after its
//!   turn raises the target at once to its own lateness plus the margin, a floor that halves
//!   every 2 s. On a clean path the target stays at the minimum, 20 ms: one packet of
//!   look-ahead, so a lost packet can still be recovered from its successor's FEC data.
//! - **Grow quickly.** When the due packet is missing and the delay is under target (by more
//!   than a 5 ms hysteresis), the buffer plays concealment *without* advancing, so a late
//!   packet still plays, 20 ms later than its turn, and every later packet has 20 ms more. In
//!   silence (DTX frames) it does the same whenever the delay is under target. A packet
//!   given up on (the delay at or over target) is recovered from FEC or concealed as before.
//! - **Shrink slowly.** When the delay has been more than a frame over target for two ticks,
//!   the buffer skips a silence (DTX) frame. Frames of sound are cut only when the delay is
//!   more than two frames over target for a second (a small, quieter frame) or three (any),
//!   and never within a second of the last cut: every wait or skip in sound shifts it by a
//!   frame, so sound mostly waits for silence.
//!
//! [`JitterConfig::fixed`] (`min_delay == max_delay`) turns adaptation off: playout starts that
//! long after the first packet, never waits and never skips.
//!
//! Timestamps are read only by the estimate, never for ordering: a peer whose timestamps go
//! backwards or jump cannot reorder or stall playout, only move its own target within the
//! bounds, and the buffer waits only while it holds less than the maximum delay of audio.
//!
//! Bounds: at most [`JitterConfig::capacity`] packets are held; packets too far ahead of the
//! playout point are dropped; the estimate keeps a fixed window; if the peer's sequence numbers
//! jump for good (a restarted sender), playout follows them after
//! [`JitterConfig::resync_after`] concealed frames. Nothing a peer sends can make it panic or
//! grow.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::codec::Packet;
use crate::{FRAME_MS, FRAME_SAMPLES};

/// Tuning of the [`JitterBuffer`]. [`Default`] is what Tern uses in a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JitterConfig {
    /// The lowest target delay, and the delay playout starts with after the first packet.
    pub min_delay: Duration,
    /// The highest target delay; the buffer never waits past it.
    pub max_delay: Duration,
    /// Added to the measured jitter to make the target. A frame (the default) also keeps a
    /// lost packet's successor, whose FEC data recovers it, in time as often as the packet.
    pub margin: Duration,
    /// Most packets held at once (and how far ahead of playout a packet may be).
    pub capacity: usize,
    /// Concealed frames in a row after which a packet outside the window restarts playout.
    pub resync_after: u32,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            // One frame: a packet may come a frame later than the latest recent ones, and a
            // lost packet's successor is there in time for FEC as often as it is itself.
            margin: Duration::from_millis(20),
            // One second of 20 ms packets.
            capacity: 50,
            // 200 ms.
            resync_after: 10,
        }
    }
}

impl JitterConfig {
    /// A fixed target delay: playout starts `delay` after the first packet and is never
    /// stretched or shrunk (a packet arriving after its turn is dropped).
    pub fn fixed(delay: Duration) -> Self {
        Self {
            min_delay: delay,
            max_delay: delay,
            ..Self::default()
        }
    }

    /// Whether the target follows the network (`min_delay < max_delay`).
    pub fn is_adaptive(&self) -> bool {
        self.min_delay < self.max_delay
    }
}

/// What to play for the current 20 ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// Playout has not started: play silence.
    Silence,
    /// Decode this packet.
    Packet(Packet),
    /// The due packet is lost; this is the one after it: decode its FEC data.
    Fec(Packet),
    /// The due packet is lost or late and so is the next: conceal.
    Conceal,
}

/// Counters since the buffer was made, and the delay it keeps now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets handed to [`JitterBuffer::push`].
    pub received: u64,
    /// Packets already held or already played.
    pub duplicates: u64,
    /// Packets that arrived after their turn.
    pub late: u64,
    /// Packets too far from the playout point to keep.
    pub out_of_window: u64,
    /// Packets dropped because the buffer was full.
    pub overflow: u64,
    /// Frames played from their own packet.
    pub played: u64,
    /// Frames recovered from the next packet's FEC data.
    pub recovered: u64,
    /// Frames concealed for a packet given up on (lost, or later than the buffer waits).
    pub concealed: u64,
    /// Frames of concealment played while playout waited (the delay grew by one frame each).
    pub inserted: u64,
    /// Frames skipped to bring the delay down to target (one frame less delay each).
    pub skipped: u64,
    /// Times playout restarted at a packet outside the window.
    pub resyncs: u64,
    /// The target delay now, in milliseconds.
    pub target_delay_ms: u32,
    /// The playout delay at the last tick, in milliseconds: how late a packet could be, past
    /// the fastest recent one, and still play.
    pub delay_ms: u32,
}

/// Transit times kept for the jitter estimate: five seconds of 20 ms packets.
const WINDOW: usize = 250;

/// The share of recent packets the target is meant to cover (in a window of 250, all but the
/// two latest).
const QUANTILE: f64 = 0.99;

/// Per tick, the floor set by a late packet shrinks by this factor (halves in 2 s).
const PEAK_DECAY: f64 = 0.993_092;

/// Slack around the target before the buffer waits or skips, in milliseconds: the ticks of a
/// busy machine wobble by a few.
const HYSTERESIS_MS: f64 = 5.0;

/// Ticks more than a frame over target before a silence frame is skipped.
const QUIET_PATIENCE: u32 = 2;

/// How far over target (beyond the hysteresis) the delay must be for a frame of *sound* to be
/// skipped: two frames. Less than that waits for silence, as every skip or wait in sound
/// shifts it by a frame.
const SOUND_OVER_MS: f64 = 2.0 * FRAME_MS as f64;

/// Ticks that far over target before a frame of sound is skipped: a small one after one
/// second, any after three.
const PATIENCE: u32 = 50;

/// Ticks between two skipped frames of sound (one second).
const CUT_SPACING: u32 = 50;

/// Payloads up to this size are Opus DTX frames (silence).
const QUIET_PAYLOAD: usize = 2;

/// RTP timestamp units per millisecond (48 kHz).
const TS_PER_MS: f64 = FRAME_SAMPLES as f64 / FRAME_MS as f64;

/// The network's delay as packets show it: transit times of recent arrivals.
#[derive(Debug, Clone, Default)]
struct DelayEstimate {
    /// Arrival times are counted from the first one.
    epoch: Option<Instant>,
    /// The last RTP timestamp seen, with its unwrapped value.
    last_ts: Option<(u32, i64)>,
    /// Transit times (arrival less RTP timestamp, ms, offset by an unknown constant).
    transits: VecDeque<f64>,
    /// Sorting space for the percentile.
    scratch: Vec<f64>,
    /// The smallest transit in the window, and its 99th percentile less that.
    base: f64,
    jitter: f64,
    /// The two above are out of date.
    dirty: bool,
}

impl DelayEstimate {
    /// Milliseconds from the first arrival to `at` (negative before it).
    fn ms(&self, at: Instant) -> f64 {
        match self.epoch {
            Some(epoch) if at >= epoch => at.duration_since(epoch).as_secs_f64() * 1e3,
            Some(epoch) => -(epoch.duration_since(at).as_secs_f64() * 1e3),
            None => 0.0,
        }
    }

    /// The unwrapped value of `ts`, the closest to the last one seen.
    fn unwrap_ts(&self, ts: u32) -> i64 {
        match self.last_ts {
            Some((last, ext)) => ext.saturating_add(i64::from(ts.wrapping_sub(last) as i32)),
            None => i64::from(ts),
        }
    }

    /// Takes the arrival of a packet with timestamp `ts`; its transit time.
    fn record(&mut self, ts: u32, at: Instant) -> f64 {
        self.epoch.get_or_insert(at);
        let ext = self.unwrap_ts(ts);
        self.last_ts = Some((ts, ext));
        let transit = self.ms(at) - ext as f64 / TS_PER_MS;
        if self.transits.len() >= WINDOW {
            self.transits.pop_front();
        }
        self.transits.push_back(transit);
        self.dirty = true;
        transit
    }

    fn refresh(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        self.scratch.clear();
        self.scratch.extend(self.transits.iter().copied());
        if self.scratch.is_empty() {
            (self.base, self.jitter) = (0.0, 0.0);
            return;
        }
        let base = self.scratch.iter().copied().fold(f64::INFINITY, f64::min);
        let k = ((self.scratch.len() - 1) as f64 * QUANTILE).round() as usize;
        let (_, high, _) = self.scratch.select_nth_unstable_by(k, f64::total_cmp);
        self.base = base;
        self.jitter = *high - base;
    }

    /// Forgets everything (a sender that restarted).
    fn reset(&mut self) {
        *self = Self::default();
    }
}

/// Reorders packets and paces them out one per 20 ms tick, keeping the delay near a target
/// that follows the network's jitter.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    config: JitterConfig,
    /// Held packets by extended (unwrapped) sequence number.
    packets: BTreeMap<u64, Packet>,
    /// Extended sequence number of the first packet, the reference until playout starts.
    first: Option<u64>,
    /// Extended sequence number of the packet due at the next tick, once playing.
    next: Option<u64>,
    /// When playout starts, once the first packet has arrived.
    start_at: Option<Instant>,
    /// Concealed frames in a row.
    concealed_run: u32,
    /// The last sequence number played, to tell duplicates from late packets.
    played_up_to: Option<u64>,
    estimate: DelayEstimate,
    /// The last packet looked at: its extended sequence number and unwrapped timestamp.
    anchor: Option<(u64, i64)>,
    /// Floor of the target set by late packets, decaying (ms).
    peak_ms: f64,
    /// The target delay (ms).
    target_ms: f64,
    /// Ticks in a row more than a frame over target.
    over_for: u32,
    /// Ticks in a row [`SOUND_OVER_MS`] over target.
    far_over_for: u32,
    /// Ticks since a frame of sound was skipped.
    since_cut: u32,
    /// Running mean of payload sizes, to tell quieter frames.
    mean_payload: f64,
    stats: JitterStats,
}

/// Extended sequence numbers start here so that unwrapping below the first one never underflows.
const EXT_BASE: u64 = 1 << 32;

fn ms_of(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new(config: JitterConfig) -> Self {
        let capacity = config.capacity.max(2);
        // The buffer cannot wait for more than it can hold.
        let most = Duration::from_millis(u64::from(FRAME_MS) * (capacity as u64 - 1));
        let max_delay = config.max_delay.min(most);
        let config = JitterConfig {
            capacity,
            max_delay,
            min_delay: config.min_delay.min(max_delay),
            ..config
        };
        let target_ms = ms_of(config.min_delay);
        Self {
            packets: BTreeMap::new(),
            first: None,
            next: None,
            start_at: None,
            concealed_run: 0,
            played_up_to: None,
            estimate: DelayEstimate::default(),
            anchor: None,
            peak_ms: 0.0,
            target_ms,
            over_for: 0,
            far_over_for: 0,
            since_cut: CUT_SPACING,
            mean_payload: 0.0,
            stats: JitterStats {
                target_delay_ms: whole_ms(target_ms),
                ..JitterStats::default()
            },
            config,
        }
    }

    /// Packets held now.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether no packet is held.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Counters so far, with the current target and playout delay.
    pub fn stats(&self) -> &JitterStats {
        &self.stats
    }

    /// The configuration in use.
    pub fn config(&self) -> &JitterConfig {
        &self.config
    }

    /// The target delay now.
    pub fn target_delay(&self) -> Duration {
        Duration::from_secs_f64(self.target_ms.max(0.0) / 1e3)
    }

    /// Takes a packet that arrived at `now`.
    pub fn push(&mut self, packet: Packet, now: Instant) {
        self.stats.received += 1;
        let capacity = self.config.capacity as u64;
        let Some(next) = self.next else {
            // Not playing yet: hold what comes near the first packet, lowest numbers first.
            let first = *self.first.get_or_insert(EXT_BASE + u64::from(packet.seq));
            let ext = unwrap_seq(packet.seq, first);
            if ext.abs_diff(first) >= capacity {
                self.stats.out_of_window += 1;
                return;
            }
            self.start_at.get_or_insert(now + self.config.min_delay);
            self.insert(ext, packet, now);
            return;
        };
        let ext = unwrap_seq(packet.seq, next);
        if ext < next {
            if self.played_up_to.is_some_and(|p| ext <= p) && next - ext <= capacity {
                // Either a late packet or a copy of one played: both are too late now. How
                // late it is raises the target at once.
                self.stats.late += 1;
                let transit = self.estimate.record(packet.timestamp, now);
                let lateness = transit - self.estimate.base + ms_of(self.config.margin);
                if lateness.is_finite() {
                    self.peak_ms = self.peak_ms.max(lateness);
                }
                return;
            }
        } else if ext < next + capacity {
            self.insert(ext, packet, now);
            return;
        }
        // Outside the window: a hostile jump, or a sender that restarted its numbering.
        if self.concealed_run >= self.config.resync_after {
            self.stats.resyncs += 1;
            self.packets.clear();
            self.next = Some(ext);
            self.concealed_run = 0;
            self.played_up_to = None;
            self.estimate.reset();
            self.anchor = None;
            self.peak_ms = 0.0;
            self.insert(ext, packet, now);
        } else {
            self.stats.out_of_window += 1;
        }
    }

    fn insert(&mut self, ext: u64, packet: Packet, now: Instant) {
        if self.packets.contains_key(&ext) {
            self.stats.duplicates += 1;
            return;
        }
        if self.packets.len() >= self.config.capacity {
            // Keep the packets due soonest.
            match self.packets.last_key_value() {
                Some((&last, _)) if last > ext => {
                    self.packets.remove(&last);
                }
                _ => {
                    self.stats.overflow += 1;
                    return;
                }
            }
            self.stats.overflow += 1;
        }
        self.estimate.record(packet.timestamp, now);
        self.mean_payload += (packet.payload.len() as f64 - self.mean_payload) / 16.0;
        self.packets.insert(ext, packet);
    }

    /// What to play for the 20 ms tick at `now`; call once per tick.
    pub fn pop(&mut self, now: Instant) -> Playout {
        let next = match self.next {
            Some(next) => next,
            None => {
                let due = self.start_at.is_some_and(|at| now >= at);
                match self.packets.keys().next() {
                    Some(&first) if due => first,
                    _ => return Playout::Silence,
                }
            }
        };
        // Nothing below the playout point is kept (it could only be stale).
        while let Some(entry) = self.packets.first_entry() {
            if *entry.key() >= next {
                break;
            }
            entry.remove();
        }
        self.next = Some(next);
        if let Some(playout) = self.adapt(next, now) {
            return playout;
        }
        self.play(next)
    }

    /// Plays `next` (or its FEC, or concealment) and moves on to the one after it.
    fn play(&mut self, next: u64) -> Playout {
        self.next = Some(next + 1);
        self.played_up_to = Some(next);
        if let Some(packet) = self.packets.remove(&next) {
            self.concealed_run = 0;
            self.stats.played += 1;
            self.anchor = Some((next, self.estimate.unwrap_ts(packet.timestamp)));
            return Playout::Packet(packet);
        }
        self.concealed_run = self.concealed_run.saturating_add(1);
        if let Some(packet) = self.packets.get(&(next + 1)) {
            self.stats.recovered += 1;
            return Playout::Fec(packet.clone());
        }
        self.stats.concealed += 1;
        Playout::Conceal
    }

    /// The adaptive part of a tick: updates the target and the delay, and waits (concealment,
    /// playout stays) or skips a frame when the delay is off target. `None`: play as usual
    /// (always with a fixed delay).
    fn adapt(&mut self, next: u64, now: Instant) -> Option<Playout> {
        let frame = f64::from(FRAME_MS);
        let (min, max) = (ms_of(self.config.min_delay), ms_of(self.config.max_delay));
        self.estimate.refresh();
        self.peak_ms *= PEAK_DECAY;
        let wanted = (self.estimate.jitter + ms_of(self.config.margin)).max(self.peak_ms);
        self.target_ms = if wanted.is_finite() {
            wanted.clamp(min, max)
        } else {
            max
        };
        self.stats.target_delay_ms = whole_ms(self.target_ms);
        let target = self.target_ms;
        let delay = self.delay_ms(next, now)?;
        self.stats.delay_ms = whole_ms(delay);
        if !self.config.is_adaptive() {
            return None;
        }
        let over = |by: f64, count: u32| {
            if delay >= target + by + HYSTERESIS_MS {
                count.saturating_add(1)
            } else {
                0
            }
        };
        self.over_for = over(frame, self.over_for);
        self.far_over_for = over(SOUND_OVER_MS, self.far_over_for);
        self.since_cut = self.since_cut.saturating_add(1);
        // Waiting never makes the buffer hold more than the maximum delay of audio.
        let held = self
            .packets
            .last_key_value()
            .map_or(0.0, |(&last, _)| (last - next) as f64 * frame);
        let may_wait = delay + frame <= max && held < max;
        let due = self.packets.get(&next);
        let quiet = due.is_some_and(|p| p.payload.len() <= QUIET_PAYLOAD);
        match due {
            None if may_wait && delay + HYSTERESIS_MS < target => {
                // Late (or lost): wait a frame for it.
                Some(self.wait())
            }
            None => None,
            Some(_) if quiet && may_wait && delay + HYSTERESIS_MS < target => Some(self.wait()),
            Some(packet) if self.packets.contains_key(&(next + 1)) => {
                let small = packet.payload.len() as f64 * 4.0 <= self.mean_payload * 3.0;
                let skip = if quiet {
                    self.over_for >= QUIET_PATIENCE
                } else {
                    self.since_cut >= CUT_SPACING
                        && (self.far_over_for >= 3 * PATIENCE
                            || small && self.far_over_for >= PATIENCE)
                };
                if !skip {
                    return None;
                }
                if !quiet {
                    self.since_cut = 0;
                }
                self.stats.skipped += 1;
                self.packets.remove(&next);
                Some(self.play(next + 1))
            }
            Some(_) => None,
        }
    }

    /// Concealment while playout stays on the due packet.
    fn wait(&mut self) -> Playout {
        self.stats.inserted += 1;
        self.concealed_run = self.concealed_run.saturating_add(1);
        Playout::Conceal
    }

    /// The playout delay of packet `next` if it plays at `now`: from when it would have
    /// arrived on the fastest recent path to `now`. `None` before any packet has arrived.
    fn delay_ms(&self, next: u64, now: Instant) -> Option<f64> {
        let (seq, ts) = match self.packets.first_key_value() {
            Some((&seq, p)) => (seq, self.estimate.unwrap_ts(p.timestamp)),
            None => self.anchor?,
        };
        let frames = next as i64 - seq as i64;
        let sent =
            ts.saturating_add(frames.saturating_mul(FRAME_SAMPLES as i64)) as f64 / TS_PER_MS;
        let delay = self.estimate.ms(now) - sent - self.estimate.base;
        delay.is_finite().then_some(delay)
    }
}

/// Milliseconds as a whole number for the stats.
fn whole_ms(ms: f64) -> u32 {
    if ms.is_finite() {
        ms.round().clamp(0.0, f64::from(u32::MAX)) as u32
    } else {
        0
    }
}

/// The extended sequence number of `seq` closest to `reference` (RFC 3550, A.1).
fn unwrap_seq(seq: u16, reference: u64) -> u64 {
    let candidate = (reference & !0xffff) | u64::from(seq);
    [
        candidate.wrapping_sub(1 << 16),
        candidate,
        candidate + (1 << 16),
    ]
    .into_iter()
    .min_by_key(|c| c.abs_diff(reference))
    .unwrap_or(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packet `seq` of a stream starting at 0; three bytes of payload (a frame of sound).
    fn packet(seq: u16) -> Packet {
        Packet {
            seq,
            timestamp: u32::from(seq).wrapping_mul(960),
            payload: vec![seq as u8; 3],
        }
    }

    /// The `n`th packet of a long stream whose sequence numbers wrap at 65536 and whose
    /// timestamps wrap at packet 65530.
    fn stream(n: u64) -> Packet {
        Packet {
            seq: n as u16,
            timestamp: (n as u32).wrapping_mul(960).wrapping_sub(65_530 * 960),
            payload: vec![n as u8; 3],
        }
    }

    /// The same packet as a DTX frame (silence).
    fn quiet(mut p: Packet) -> Packet {
        p.payload.truncate(1);
        p
    }

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    fn name(playout: &Playout) -> String {
        match playout {
            Playout::Packet(p) => p.seq.to_string(),
            Playout::Fec(p) => format!("F{}", p.seq),
            Playout::Conceal => "C".into(),
            Playout::Silence => "S".into(),
        }
    }

    /// Pops `n` ticks from `t` on and names each: the packet's seq, `F<seq>` or `C`.
    fn drain(jb: &mut JitterBuffer, t0: Instant, from_ms: u64, n: u64) -> Vec<String> {
        (0..n)
            .map(|i| name(&jb.pop(ms(t0, from_ms + 20 * i))))
            .collect()
    }

    /// A pseudo-random number in `0..n` (a fixed sequence per seed).
    fn lcg(state: &mut u64, n: u64) -> u64 {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (*state >> 33) % n
    }

    /// One tick of a simulated call.
    struct Tick {
        playout: Playout,
        stats: JitterStats,
    }

    /// A call of `count` packets from the stream's packet `first` on: packet `i` is sent at
    /// `20 i` ms and arrives `transit(i)` ms later (`None`: lost), made by `make`; the
    /// buffer ticks every 20 ms, 7 ms out of phase with the sender.
    fn simulate(
        jb: &mut JitterBuffer,
        first: u64,
        count: u64,
        mut transit: impl FnMut(u64) -> Option<u64>,
        make: impl Fn(u64) -> Packet,
    ) -> Vec<Tick> {
        let t0 = Instant::now();
        let mut arrivals: Vec<(u64, u64)> = (0..count)
            .filter_map(|i| transit(i).map(|d| (20 * i + d, i)))
            .collect();
        arrivals.sort();
        let mut arrivals = arrivals.into_iter().peekable();
        (0..count)
            .map(|k| {
                let now = 20 * k + 7;
                while let Some((at, i)) = arrivals.next_if(|(at, _)| *at <= now) {
                    jb.push(make(first + i), ms(t0, at));
                }
                let playout = jb.pop(ms(t0, now));
                Tick {
                    playout,
                    stats: jb.stats().clone(),
                }
            })
            .collect()
    }

    #[test]
    fn waits_for_the_start_delay_then_reorders() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        assert_eq!(jb.pop(t0), Playout::Silence);
        for seq in [12, 10, 13, 11] {
            jb.push(packet(seq), ms(t0, 5));
        }
        // Playout starts `min_delay` (20 ms) after the first packet.
        assert_eq!(drain(&mut jb, t0, 10, 1), ["S"]);
        assert_eq!(drain(&mut jb, t0, 25, 5), ["10", "11", "12", "13", "C"]);

        let mut fixed = JitterBuffer::new(JitterConfig::fixed(Duration::from_millis(60)));
        for seq in [12, 10, 13, 11] {
            fixed.push(packet(seq), ms(t0, 5));
        }
        assert_eq!(drain(&mut fixed, t0, 20, 2), ["S", "S"]);
        assert_eq!(drain(&mut fixed, t0, 65, 5), ["10", "11", "12", "13", "C"]);
    }

    #[test]
    fn duplicates_are_played_once() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        for seq in [1, 1, 2, 1, 2] {
            jb.push(packet(seq), t0);
        }
        assert_eq!(drain(&mut jb, t0, 60, 2), ["1", "2"]);
        jb.push(packet(1), ms(t0, 90));
        jb.push(packet(2), ms(t0, 90));
        assert_eq!(jb.stats().duplicates, 3);
        assert_eq!(jb.stats().late, 2);
        assert!(jb.is_empty());
    }

    #[test]
    fn late_packets_are_dropped() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        jb.push(packet(1), t0);
        jb.push(packet(4), t0);
        assert_eq!(drain(&mut jb, t0, 60, 3), ["1", "C", "F4"]);
        jb.push(packet(2), ms(t0, 110));
        jb.push(packet(3), ms(t0, 110));
        assert_eq!(drain(&mut jb, t0, 120, 1), ["4"]);
        assert_eq!(jb.stats().late, 2);
        // How late they were raised the target at once.
        assert!(jb.stats().target_delay_ms >= 150, "{:?}", jb.stats());
    }

    #[test]
    fn loss_uses_fec_when_the_next_packet_is_here_and_conceals_otherwise() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        for seq in [0, 2, 5] {
            jb.push(packet(seq), t0);
        }
        assert_eq!(drain(&mut jb, t0, 60, 6), ["0", "F2", "2", "C", "F5", "5"]);
        let s = jb.stats();
        assert_eq!((s.played, s.recovered, s.concealed), (3, 2, 1));
    }

    #[test]
    fn wraps_around_at_65535() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        for n in [65_534, 65_537, 65_535, 65_536] {
            jb.push(stream(n), t0);
        }
        assert_eq!(drain(&mut jb, t0, 60, 4), ["65534", "65535", "0", "1"]);
        // Still in order far past the wrap.
        for i in 0..70_000u64 {
            jb.push(stream(65_538 + i), ms(t0, 140 + 20 * i));
            let got = jb.pop(ms(t0, 140 + 20 * i));
            assert_eq!(got, Playout::Packet(stream(65_538 + i)));
        }
    }

    #[test]
    fn a_packet_before_the_first_one_still_plays_in_order() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        jb.push(stream(65_536), t0);
        jb.push(stream(65_535), ms(t0, 10));
        assert_eq!(drain(&mut jb, t0, 60, 2), ["65535", "0"]);
    }

    #[test]
    fn timestamps_going_backwards_do_not_reorder_or_stall() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        for (seq, ts) in [(1, 9_000), (2, 10), (3, u32::MAX)] {
            jb.push(
                Packet {
                    seq,
                    timestamp: ts,
                    payload: vec![],
                },
                t0,
            );
        }
        // Silence frames: the buffer may wait for its (nonsense) target, within its maximum.
        let played: Vec<u32> = (0..20)
            .filter_map(|i| match jb.pop(ms(t0, 60 + 20 * i)) {
                Playout::Packet(p) => Some(p.timestamp),
                _ => None,
            })
            .collect();
        assert_eq!(played, [9_000, 10, u32::MAX]);
    }

    #[test]
    fn size_is_bounded_whatever_arrives() {
        let t0 = Instant::now();
        let config = JitterConfig::default();
        let cap = config.capacity;
        let mut jb = JitterBuffer::new(config);
        // Before playout: a flood of every sequence number, twice, backwards.
        for seq in (0..=u16::MAX).rev().chain((0..=u16::MAX).rev()) {
            jb.push(packet(seq), t0);
            assert!(jb.len() <= cap);
        }
        // What is kept is the packets due soonest around the first one (65535).
        assert_eq!(drain(&mut jb, t0, 60, 2), ["65486", "65487"]);
        // While playing: huge jumps, random numbers and timestamps, silence and sound.
        let mut x: u32 = 12_345;
        for i in 0..100_000u64 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let mut p = packet((x >> 16) as u16);
            p.timestamp = x.rotate_left(7);
            p.payload.truncate((x % 4) as usize);
            jb.push(p, ms(t0, 100 + i));
            assert!(jb.len() <= cap);
            if i % 20 == 0 {
                jb.pop(ms(t0, 100 + i));
            }
        }
        assert!(jb.stats().out_of_window > 0);
        assert!(jb.stats().target_delay_ms <= 200, "{:?}", jb.stats());
    }

    #[test]
    fn random_timestamps_cannot_stall_playout() {
        // A peer sending every 20 ms, in order, with nonsense timestamps.
        let mut state = 5;
        let mut stamps = Vec::new();
        for _ in 0..1500 {
            stamps.push(lcg(&mut state, 1 << 32) as u32);
        }
        let sound: fn(u64) -> Packet = stream;
        let silence: fn(u64) -> Packet = |n| quiet(stream(n));
        for make in [sound, silence] {
            let mut jb = JitterBuffer::new(JitterConfig::default());
            let ticks = simulate(
                &mut jb,
                0,
                1500,
                |_| Some(30),
                |n| Packet {
                    timestamp: stamps[(n % 1500) as usize],
                    ..make(n)
                },
            );
            let s = &ticks[ticks.len() - 1].stats;
            let frames = ticks
                .iter()
                .filter(|t| matches!(t.playout, Playout::Packet(_)))
                .count();
            // Each frame is played or skipped; what waits is bounded by the maximum delay.
            assert!(frames >= 1000, "{frames} {s:?}");
            assert!(jb.len() <= 12, "{} {s:?}", jb.len());
        }
    }

    #[test]
    fn follows_a_sender_that_jumps_for_good() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        jb.push(packet(100), t0);
        assert_eq!(drain(&mut jb, t0, 60, 1), ["100"]);
        // The sender restarts at 40000 (behind by more than half the space when unwrapped).
        let mut t = 80;
        let mut out = Vec::new();
        for seq in 40_000..40_020 {
            jb.push(packet(seq), ms(t0, t));
            out.extend(drain(&mut jb, t0, t, 1));
            t += 20;
        }
        // Concealment until `resync_after`, then the new numbers play.
        assert_eq!(out[..10], ["C"; 10]);
        assert!(
            out[11..]
                .iter()
                .all(|s| s.parse::<u16>().is_ok_and(|n| n >= 40_000)),
            "{out:?}"
        );
        assert_eq!(jb.stats().resyncs, 1);
    }

    #[test]
    fn a_clean_path_keeps_the_lowest_target() {
        // 30 s at a constant 30 ms, across the wrap of sequence numbers and timestamps.
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let ticks = simulate(&mut jb, 65_000, 1500, |_| Some(30), stream);
        let s = jb.stats();
        assert_eq!(s.target_delay_ms, 20, "{s:?}");
        assert!((20..45).contains(&s.delay_ms), "{s:?}");
        assert_eq!(
            (s.late, s.concealed, s.recovered, s.inserted, s.skipped),
            (0, 0, 0, 0, 0),
            "{s:?}"
        );
        // From the first frame on, every tick plays the next packet.
        let first = ticks
            .iter()
            .position(|t| t.playout != Playout::Silence)
            .expect("playing");
        assert!(first <= 3, "{first}");
        let mut expect = stream(65_000).seq;
        for t in &ticks[first..] {
            assert_eq!(name(&t.playout), expect.to_string());
            expect = expect.wrapping_add(1);
        }
    }

    #[test]
    fn a_jittery_path_grows_the_target_and_few_packets_are_late() {
        // 30 s of 30–70 ms transit (packets overtake each other), 3 % loss, and a first
        // packet as fast as any (so the start delay covers no jitter).
        let path = |state: &mut u64, i: u64| match i {
            0 => Some(30),
            _ => (lcg(state, 100) >= 3).then(|| 30 + lcg(state, 41)),
        };
        let mut state = 7;
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let ticks = simulate(&mut jb, 0, 1500, |i| path(&mut state, i), stream);
        let s = jb.stats();
        println!("{s:?}");
        assert!((40..=70).contains(&s.target_delay_ms), "{s:?}");
        assert!(s.delay_ms >= 40, "{s:?}");
        // Few late packets, all while the target grew in the first seconds.
        assert!(s.late <= 15, "{s:?}");
        assert_eq!(ticks[250].stats.late, s.late, "{s:?}");
        // Losses were covered by FEC when the next packet was there.
        assert!(s.recovered >= 25, "{s:?}");
        // The same path with the start delay fixed: a late packet every few ticks.
        let mut state = 7;
        let mut fixed = JitterBuffer::new(JitterConfig::fixed(Duration::from_millis(20)));
        simulate(&mut fixed, 0, 1500, |i| path(&mut state, i), stream);
        assert!(fixed.stats().late >= 75, "{:?}", fixed.stats());
    }

    #[test]
    fn the_target_shrinks_again_when_jitter_calms_down() {
        // 5 s clean, 15 s of 0–60 ms jitter, 30 s clean; frames of sound throughout.
        let transit = |state: &mut u64, i: u64| {
            if (250..1000).contains(&i) {
                30 + lcg(state, 61)
            } else {
                30
            }
        };
        let mut state = 9;
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let ticks = simulate(&mut jb, 0, 2500, |i| Some(transit(&mut state, i)), stream);
        let at = |k: usize| &ticks[k].stats;
        println!("{:?}\n{:?}\n{:?}", at(249), at(999), at(2499));
        assert_eq!(at(249).target_delay_ms, 20, "{:?}", at(249));
        // It grew within a second of the jitter starting, and few packets came late.
        assert!(at(300).target_delay_ms >= 50, "{:?}", at(300));
        assert!(at(999).target_delay_ms >= 60, "{:?}", at(999));
        assert!(at(999).late - at(249).late <= 15, "{:?}", at(999));
        // Calm again: back to the lowest target, with the delay following to within two
        // frames (sound is cut only that far over target; silence closes the rest).
        let end = at(2499);
        assert_eq!(end.target_delay_ms, 20, "{end:?}");
        assert!(end.delay_ms < 65, "{end:?}");
        assert_eq!(end.late, at(999).late, "{end:?}");
        // Frames of sound were skipped at most one a second.
        let skips: Vec<usize> = (1..ticks.len())
            .filter(|&k| at(k).skipped > at(k - 1).skipped)
            .collect();
        assert!(!skips.is_empty(), "{end:?}");
        assert!(skips.windows(2).all(|w| w[1] - w[0] >= 50), "{skips:?}");
    }

    #[test]
    fn silence_is_where_the_delay_moves_first() {
        // As above, with silence (DTX frames) once the jitter is over: the delay comes down
        // in silence within a few seconds of the target.
        let transit = |state: &mut u64, i: u64| {
            if i < 750 {
                30 + lcg(state, 61)
            } else {
                30
            }
        };
        let make = |n: u64| if n < 750 { stream(n) } else { quiet(stream(n)) };
        let mut state = 9;
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let ticks = simulate(&mut jb, 0, 1500, |i| Some(transit(&mut state, i)), make);
        let end = &ticks[ticks.len() - 1].stats;
        // Once the target is back down, the delay follows within a second.
        let low = ticks
            .iter()
            .position(|t| t.stats.played > 750 && t.stats.target_delay_ms == 20)
            .expect("target back down");
        let settled = &ticks[low + 50].stats;
        assert!(settled.delay_ms < 45, "{settled:?}");
        assert!(end.skipped >= 2, "{end:?}");
    }

    #[test]
    fn a_fixed_delay_never_waits_or_skips() {
        // 0–60 ms of jitter after a first packet as fast as any.
        let mut state = 3;
        let mut jb = JitterBuffer::new(JitterConfig::fixed(Duration::from_millis(40)));
        let path = |i| Some(if i == 0 { 30 } else { 30 + lcg(&mut state, 61) });
        simulate(&mut jb, 0, 500, path, stream);
        let s = jb.stats();
        assert_eq!(
            (s.inserted, s.skipped, s.target_delay_ms),
            (0, 0, 40),
            "{s:?}"
        );
        assert!(s.late > 0, "{s:?}");
        assert!((40..60).contains(&s.delay_ms), "{s:?}");
    }

    #[test]
    fn unwraps_closest() {
        assert_eq!(unwrap_seq(5, EXT_BASE), EXT_BASE + 5);
        assert_eq!(unwrap_seq(65_535, EXT_BASE), EXT_BASE - 1);
        assert_eq!(unwrap_seq(0, EXT_BASE + 65_535), EXT_BASE + 65_536);
        assert_eq!(unwrap_seq(7, 0), 7);
    }
}
