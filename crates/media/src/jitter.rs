//! A bounded jitter buffer with a fixed target delay.
//!
//! Packets go in as they arrive (out of order, late, twice, or never); every 20 ms the caller
//! takes out one [`Playout`]: the packet due now, the next packet for FEC recovery when the
//! due one is missing but its successor is here, or concealment.
//!
//! Playout is scheduled by sequence number: it starts [`JitterConfig::target_delay`] after the
//! first packet arrives and then advances one packet per tick, so a packet has
//! `target_delay` plus its lead over the first packet to arrive. The delay is fixed rather
//! than adaptive: 60 ms absorbs the jitter of ordinary networks, keeps mouth-to-ear latency
//! predictable, and a packet arriving after its turn is dropped instead of adding delay for
//! the rest of the call. Timestamps are carried through but not used for ordering, so a peer's
//! timestamps going backwards change nothing.
//!
//! Bounds: at most [`JitterConfig::capacity`] packets are held; packets too far ahead of the
//! playout point are dropped; if the peer's sequence numbers jump for good (a restarted sender),
//! playout follows them after [`JitterConfig::resync_after`] concealed frames. Nothing a peer
//! sends can make it panic or grow.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::codec::Packet;

/// Tuning of the [`JitterBuffer`]. [`Default`] is what Tern uses in a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JitterConfig {
    /// How long the first packet waits before playout starts.
    pub target_delay: Duration,
    /// Most packets held at once (and how far ahead of playout a packet may be).
    pub capacity: usize,
    /// Concealed frames in a row after which a packet outside the window restarts playout.
    pub resync_after: u32,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            target_delay: Duration::from_millis(60),
            // One second of 20 ms packets.
            capacity: 50,
            // 200 ms.
            resync_after: 10,
        }
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
    /// The due packet is lost and so is the next: conceal.
    Conceal,
}

/// Counters since the buffer was made.
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
    /// Frames concealed.
    pub concealed: u64,
    /// Times playout restarted at a packet outside the window.
    pub resyncs: u64,
}

/// Reorders packets and paces them out one per 20 ms tick.
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
    stats: JitterStats,
}

/// Extended sequence numbers start here so that unwrapping below the first one never underflows.
const EXT_BASE: u64 = 1 << 32;

impl JitterBuffer {
    /// An empty buffer.
    pub fn new(config: JitterConfig) -> Self {
        Self {
            config: JitterConfig {
                capacity: config.capacity.max(2),
                ..config
            },
            packets: BTreeMap::new(),
            first: None,
            next: None,
            start_at: None,
            concealed_run: 0,
            played_up_to: None,
            stats: JitterStats::default(),
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

    /// Counters so far.
    pub fn stats(&self) -> &JitterStats {
        &self.stats
    }

    /// The configuration in use.
    pub fn config(&self) -> &JitterConfig {
        &self.config
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
            self.start_at.get_or_insert(now + self.config.target_delay);
            self.insert(ext, packet);
            return;
        };
        let ext = unwrap_seq(packet.seq, next);
        if ext < next {
            if self.played_up_to.is_some_and(|p| ext <= p) && next - ext <= capacity {
                // Either a late packet or a copy of one played: both are too late now.
                self.stats.late += 1;
                return;
            }
        } else if ext < next + capacity {
            self.insert(ext, packet);
            return;
        }
        // Outside the window: a hostile jump, or a sender that restarted its numbering.
        if self.concealed_run >= self.config.resync_after {
            self.stats.resyncs += 1;
            self.packets.clear();
            self.next = Some(ext);
            self.concealed_run = 0;
            self.played_up_to = None;
            self.insert(ext, packet);
        } else {
            self.stats.out_of_window += 1;
        }
    }

    fn insert(&mut self, ext: u64, packet: Packet) {
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
        self.next = Some(next + 1);
        self.played_up_to = Some(next);
        // Nothing below the playout point is kept (it could only be stale).
        while let Some(entry) = self.packets.first_entry() {
            if *entry.key() >= next {
                break;
            }
            entry.remove();
        }
        if let Some(packet) = self.packets.remove(&next) {
            self.concealed_run = 0;
            self.stats.played += 1;
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

    fn packet(seq: u16) -> Packet {
        Packet {
            seq,
            timestamp: u32::from(seq).wrapping_mul(960),
            payload: vec![seq as u8],
        }
    }

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    /// Pops `n` ticks from `t` on and names each: the packet's seq, `F<seq>` or `C`.
    fn drain(jb: &mut JitterBuffer, t0: Instant, from_ms: u64, n: u64) -> Vec<String> {
        (0..n)
            .map(|i| match jb.pop(ms(t0, from_ms + 20 * i)) {
                Playout::Packet(p) => p.seq.to_string(),
                Playout::Fec(p) => format!("F{}", p.seq),
                Playout::Conceal => "C".into(),
                Playout::Silence => "S".into(),
            })
            .collect()
    }

    #[test]
    fn waits_for_the_target_delay_then_reorders() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        assert_eq!(jb.pop(t0), Playout::Silence);
        for seq in [12, 10, 13, 11] {
            jb.push(packet(seq), ms(t0, 5));
        }
        assert_eq!(drain(&mut jb, t0, 20, 2), ["S", "S"]);
        assert_eq!(drain(&mut jb, t0, 65, 5), ["10", "11", "12", "13", "C"]);
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
        for seq in [65_534, 1, 65_535, 0] {
            jb.push(packet(seq), t0);
        }
        assert_eq!(drain(&mut jb, t0, 60, 4), ["65534", "65535", "0", "1"]);
        // Still in order far past the wrap.
        for i in 0..70_000u32 {
            let seq = (i + 2) as u16;
            jb.push(packet(seq), ms(t0, 140 + 20 * u64::from(i)));
            let got = jb.pop(ms(t0, 140 + 20 * u64::from(i)));
            assert_eq!(got, Playout::Packet(packet(seq)));
        }
    }

    #[test]
    fn a_packet_before_the_first_one_still_plays_in_order() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        jb.push(packet(0), t0);
        jb.push(packet(65_535), ms(t0, 10));
        assert_eq!(drain(&mut jb, t0, 60, 2), ["65535", "0"]);
    }

    #[test]
    fn timestamps_going_backwards_change_nothing() {
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
        let played: Vec<u32> = (0..3)
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
        // While playing: huge jumps and random numbers.
        let mut x: u32 = 12_345;
        for i in 0..100_000u64 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            jb.push(packet((x >> 16) as u16), ms(t0, 100 + i));
            assert!(jb.len() <= cap);
            if i % 20 == 0 {
                jb.pop(ms(t0, 100 + i));
            }
        }
        assert!(jb.stats().out_of_window > 0);
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
    fn unwraps_closest() {
        assert_eq!(unwrap_seq(5, EXT_BASE), EXT_BASE + 5);
        assert_eq!(unwrap_seq(65_535, EXT_BASE), EXT_BASE - 1);
        assert_eq!(unwrap_seq(0, EXT_BASE + 65_535), EXT_BASE + 65_536);
        assert_eq!(unwrap_seq(7, 0), 7);
    }
}
