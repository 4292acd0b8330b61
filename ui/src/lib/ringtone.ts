// The sounds of calls, made with the Web Audio API (no sound file):
// - the ringtone of an incoming call: a soft two-note chime, E5 then C5
//   with a quiet octave above each for a bell-like colour, twice, then a
//   pause; repeated until stopped;
// - the ringback of an outgoing call while the other side rings: the
//   standard tone of North American telephones (ITU-T E.180), 440 Hz and
//   480 Hz together, 2 s on and 4 s off, repeated until stopped.
// Where audio cannot play (no AudioContext, blocked, closed), they are
// silent and never throw.

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

/** One ring: the notes of RING from `t`. */
function chime(ctx: RingContext, t: number): void {
  for (const n of RING) note(ctx, n.hz, t + n.at);
}

/** The ringback's two frequencies, Hz. */
export const RINGBACK_HZ: readonly number[] = [440, 480];
/** How long the ringback sounds in each period, s. */
export const RINGBACK_ON_S = 2;
/** From one ringback burst to the next, ms (2 s on, 4 s off). */
export const RINGBACK_PERIOD_MS = 6000;
/** Loudness of each of the ringback's tones (0–1): quieter than the ringtone, it sounds while the user waits. */
const RINGBACK_PEAK = 0.05;

/** One ringback burst from `t`: both tones, with short ramps so it does not click. */
function burst(ctx: RingContext, t: number): void {
  const gain = ctx.createGain();
  gain.gain.setValueAtTime(0, t);
  gain.gain.linearRampToValueAtTime(RINGBACK_PEAK, t + 0.02);
  gain.gain.setValueAtTime(RINGBACK_PEAK, t + RINGBACK_ON_S - 0.02);
  gain.gain.linearRampToValueAtTime(0, t + RINGBACK_ON_S);
  gain.connect(ctx.destination);
  for (const hz of RINGBACK_HZ) {
    const osc = ctx.createOscillator();
    osc.type = 'sine';
    osc.frequency.setValueAtTime(hz, t);
    osc.connect(gain);
    osc.start(t);
    osc.stop(t + RINGBACK_ON_S + 0.05);
  }
}

/**
 * Starts ringing; returns what stops it (safe to call more than once).
 * `make` gives the audio context (by default the page's; null: silence).
 */
export function startRingtone(make: () => RingContext | null = defaultContext): () => void {
  return repeat(make, chime, RING_PERIOD_MS);
}

/**
 * Starts the ringback of an outgoing call; returns what stops it (safe to
 * call more than once). `make` as for the ringtone.
 */
export function startRingback(make: () => RingContext | null = defaultContext): () => void {
  return repeat(make, burst, RINGBACK_PERIOD_MS);
}

/** Plays `pattern` now and every `period` ms until stopped, on a context of its own. */
function repeat(make: () => RingContext | null, pattern: (ctx: RingContext, t: number) => void, period: number): () => void {
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
      pattern(c, c.currentTime + 0.05);
    } catch {
      /* silent */
    }
  };
  ring();
  let timer: ReturnType<typeof setInterval> | null = setInterval(ring, period);
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
