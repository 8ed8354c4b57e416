// @ts-check
// Who is speaking, decided in this browser from the decrypted audio of each
// member (Web Audio), never told to the relay: the relay gets no
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
export const SAMPLE_MS = 100;

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
 * Reads each member's decrypted audio track and says when one starts or
 * stops speaking. The browser-side shell around [Speaking].
 */
export class SpeakingWatch {
  /** @param {(leaf: number, speaking: boolean) => void} onChange */
  constructor(onChange) {
    this.onChange = onChange;
    /** @type {AudioContext | null} */
    this.ctx = null;
    /** @type {Map<number, {track: MediaStreamTrack, source: MediaStreamAudioSourceNode, analyser: AnalyserNode, state: Speaking, buf: Float32Array<ArrayBuffer>}>} */
    this.watched = new Map();
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
  }

  /**
   * The audio track each member's tile plays now (null: none).
   * @param {Map<number, MediaStreamTrack | null>} tracks
   */
  update(tracks) {
    for (const [leaf, w] of this.watched) {
      if (tracks.get(leaf) !== w.track) this.unwatch(leaf);
    }
    for (const [leaf, track] of tracks) {
      if (!track || this.watched.has(leaf)) continue;
      try {
        this.ctx = this.ctx || new AudioContext();
        if (this.ctx.state === 'suspended') this.ctx.resume().catch(() => {});
        const source = this.ctx.createMediaStreamSource(new MediaStream([track]));
        const analyser = this.ctx.createAnalyser();
        analyser.fftSize = 1024;
        source.connect(analyser);
        this.watched.set(leaf, { track, source, analyser, state: new Speaking(), buf: new Float32Array(analyser.fftSize) });
      } catch (e) {
        console.warn(`cannot read a member's audio level: ${e}`);
      }
    }
  }

  /** @param {number} leaf */
  unwatch(leaf) {
    const w = this.watched.get(leaf);
    if (!w) return;
    w.source.disconnect();
    this.watched.delete(leaf);
    if (w.state.speaking) this.onChange(leaf, false);
  }

  sample() {
    const now = performance.now();
    for (const [leaf, w] of this.watched) {
      w.analyser.getFloatTimeDomainData(w.buf);
      if (w.state.level(rms(w.buf), now)) this.onChange(leaf, w.state.speaking);
    }
  }

  /** The members speaking now. */
  speaking() {
    return [...this.watched].filter(([, w]) => w.state.speaking).map(([leaf]) => leaf);
  }

  close() {
    clearInterval(this.timer);
    for (const leaf of [...this.watched.keys()]) this.unwatch(leaf);
    if (this.ctx) this.ctx.close().catch(() => {});
  }
}
