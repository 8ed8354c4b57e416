// @ts-check
// Who is speaking, decided in this browser from the decrypted audio of each
// member (the level the browser measures of the audio it plays), never told
// to the relay: the relay gets no
// audio-level header extension and every audio frame is padded to one size
// (docs/design.md §1, "read who is speaking"). A speaking member's tile
// gets a ring (`.tile.speaking`).
//
// The decision ([Speaking]) is pure: tests/web/speaking.test.mjs.

/** An audio frame this loud (RMS of samples in -1..1) is speech or sound. */
export const SPEAKING_LEVEL = 0.02;
/** A member stays "speaking" this long after their last loud frame, across
 * the short pauses between words. */
export const HOLD_MS = 800;
/** How often each member's audio level is read. */
export const SAMPLE_MS = 200;

/** One member's speaking state from their audio levels. */
export class Speaking {
  constructor() {
    this.lastLoudAt = -Infinity;
    this.speaking = false;
  }

  /**
   * Takes one level reading; returns whether the state changed.
   * @param {number} rms
   * @param {number} now ms
   */
  level(rms, now) {
    if (rms >= SPEAKING_LEVEL) this.lastLoudAt = now;
    const speaking = now - this.lastLoudAt < HOLD_MS;
    const changed = speaking !== this.speaking;
    this.speaking = speaking;
    return changed;
  }
}

/** The RMS of `samples` (-1..1). @param {Float32Array} samples */
export function rms(samples) {
  let sum = 0;
  for (const x of samples) sum += x * x;
  return samples.length ? Math.sqrt(sum / samples.length) : 0;
}

/**
 * The level (RMS of the 0..1 audio level) of the audio a receiver played
 * between two readings of its statistics: `totalAudioEnergy` is the sum of
 * level² × duration, `totalSamplesDuration` the seconds played (WebRTC
 * statistics, computed by the browser from the decoded audio). 0 when
 * nothing played in between.
 * @param {{energy: number, duration: number}} before
 * @param {{energy: number, duration: number}} now
 */
export function levelBetween(before, now) {
  const d = now.duration - before.duration;
  const e = now.energy - before.energy;
  return d > 0 && e > 0 ? Math.sqrt(e / d) : 0;
}

/**
 * Reads each member's received audio level and says when one starts or
 * stops speaking. The browser-side shell around [Speaking]: the levels come
 * from the receivers' own statistics of the decoded (decrypted) audio, so
 * no Web Audio graph is needed (Chromium's Web Audio sometimes hears
 * silence from a remote track).
 */
export class SpeakingWatch {
  /**
   * @param {() => Promise<Map<number, {energy: number, duration: number}>>} read each member's audio energy so far, by leaf
   * @param {(leaf: number, speaking: boolean) => void} onChange
   */
  constructor(read, onChange) {
    this.read = read;
    this.onChange = onChange;
    /** @type {Map<number, {last: {energy: number, duration: number}, state: Speaking}>} */
    this.watched = new Map();
    this.busy = false;
    this.closed = false;
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
  }

  async sample() {
    if (this.busy || this.closed) return;
    this.busy = true;
    try {
      const now = performance.now();
      const readings = await this.read();
      if (this.closed) return;
      for (const [leaf, w] of this.watched) {
        if (!readings.has(leaf)) {
          this.watched.delete(leaf);
          if (w.state.speaking) this.onChange(leaf, false);
        }
      }
      for (const [leaf, reading] of readings) {
        const w = this.watched.get(leaf);
        if (!w) {
          this.watched.set(leaf, { last: reading, state: new Speaking() });
          continue;
        }
        const level = levelBetween(w.last, reading);
        w.last = reading;
        if (w.state.level(level, now)) this.onChange(leaf, w.state.speaking);
      }
    } catch (e) {
      console.warn(`cannot read members' audio levels: ${e}`);
    } finally {
      this.busy = false;
    }
  }

  /** The members speaking now. */
  speaking() {
    return [...this.watched].filter(([, w]) => w.state.speaking).map(([leaf]) => leaf);
  }

  close() {
    this.closed = true;
    clearInterval(this.timer);
  }
}
