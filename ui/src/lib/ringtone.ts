// The ringtone of an incoming call, made with the Web Audio API (no sound
// file): a soft two-note chime, E5 then C5 with a quiet octave above each
// for a bell-like colour, twice, then a pause; repeated until stopped.
// Where audio cannot play (no AudioContext, blocked, closed), it is silent
// and never throws.

/** Notes of one ring: seconds from its start, frequency in Hz. */
export const RING: readonly { at: number; hz: number }[] = [
  { at: 0, hz: 659.25 },
  { at: 0.32, hz: 523.25 },
  { at: 0.9, hz: 659.25 },
  { at: 1.22, hz: 523.25 },
];
/** From one ring to the next, ms. */
export const RING_PERIOD_MS = 3200;
/** How long a note sounds (it fades out), s. */
const NOTE_S = 0.7;
/** Loudness at a note's peak (0–1): a ringtone, not an alarm. */
const PEAK = 0.16;

/** What the ringtone uses of an AudioContext (a test can give its own). */
export type RingContext = Pick<AudioContext, 'currentTime' | 'destination' | 'createOscillator' | 'createGain' | 'close'> & {
  resume?: () => Promise<void>;
};

function defaultContext(): RingContext | null {
  const g = globalThis as unknown as { AudioContext?: typeof AudioContext; webkitAudioContext?: typeof AudioContext };
  const Ctx = g.AudioContext ?? g.webkitAudioContext;
  return Ctx ? new Ctx() : null;
}

/** One note: a sine with a quiet octave, a quick attack and a long fade. */
function note(ctx: RingContext, hz: number, start: number): void {
  const gain = ctx.createGain();
  gain.gain.setValueAtTime(0, start);
  gain.gain.linearRampToValueAtTime(PEAK, start + 0.015);
  gain.gain.exponentialRampToValueAtTime(0.0001, start + NOTE_S);
  gain.connect(ctx.destination);
  for (const [mul, level] of [
    [1, 1],
    [2, 0.18],
  ] as const) {
    const osc = ctx.createOscillator();
    osc.type = 'sine';
    osc.frequency.setValueAtTime(hz * mul, start);
    if (level === 1) osc.connect(gain);
    else {
      const quiet = ctx.createGain();
      quiet.gain.setValueAtTime(level, start);
      osc.connect(quiet);
      quiet.connect(gain);
    }
    osc.start(start);
    osc.stop(start + NOTE_S + 0.05);
  }
}

/**
 * Starts ringing; returns what stops it (safe to call more than once).
 * `make` gives the audio context (by default the page's; null: silence).
 */
export function startRingtone(make: () => RingContext | null = defaultContext): () => void {
  let ctx: RingContext | null = null;
  try {
    ctx = make();
  } catch {
    ctx = null;
  }
  if (!ctx) return () => {};
  const c = ctx;
  // A context made without a user gesture may start suspended.
  try {
    void c.resume?.().catch(() => {});
  } catch {
    /* silent */
  }
  const ring = () => {
    try {
      const t = c.currentTime + 0.05;
      for (const n of RING) note(c, n.hz, t + n.at);
    } catch {
      /* silent */
    }
  };
  ring();
  let timer: ReturnType<typeof setInterval> | null = setInterval(ring, RING_PERIOD_MS);
  return () => {
    if (timer === null) return;
    clearInterval(timer);
    timer = null;
    try {
      void c.close().catch(() => {});
    } catch {
      /* already closed */
    }
  };
}
