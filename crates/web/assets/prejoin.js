// @ts-check
// Before joining (issue 13 item 2): a preview of your camera, your
// microphone's level, a choice of camera and microphone, and whether to
// join with each on. Nothing here talks to the relay; the stream opened
// for the preview is the one the call then sends (no second prompt).

import { rms } from './speaking.js';

/**
 * The choices to show for one kind of device: its id and a label (the
 * browser hides labels until a device was allowed; then "Camera 2").
 * @param {{deviceId: string, kind: string, label: string}[]} devices
 * @param {'videoinput' | 'audioinput'} kind
 */
export function deviceChoices(devices, kind) {
  const noun = kind === 'videoinput' ? 'Camera' : 'Microphone';
  return devices
    .filter((d) => d.kind === kind && d.deviceId)
    .map((d, i) => ({ id: d.deviceId, label: d.label || `${noun} ${i + 1}` }));
}

/** The camera preview, microphone meter and device choice in the join form. */
export class Preview {
  /**
   * @param {{video: HTMLVideoElement, meter: HTMLMeterElement, cameras: HTMLSelectElement, mics: HTMLSelectElement,
   *   micOn: HTMLInputElement, camOn: HTMLInputElement, status: (text: string) => void}} ui
   */
  constructor(ui) {
    this.ui = ui;
    /** @type {MediaStream | null} */
    this.stream = null;
    /** @type {AudioContext | null} */
    this.ctx = null;
    this.timer = undefined;
    this.stopped = false;
    ui.cameras.onchange = () => this.open();
    ui.mics.onchange = () => this.open();
  }

  /** Opens the chosen camera and microphone and shows them. */
  async open() {
    const { video, cameras, mics } = this.ui;
    const constraints = {
      video: cameras.value ? { deviceId: { exact: cameras.value } } : true,
      audio: mics.value ? { deviceId: { exact: mics.value } } : true,
    };
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(constraints);
    } catch (e) {
      const err = /** @type {DOMException} */ (e);
      this.ui.status(`No camera or microphone (${err.name}: ${err.message}); allow them to see yourself before joining`);
      return;
    }
    if (this.stopped) { stream.getTracks().forEach((t) => t.stop()); return; }
    this.release();
    this.stream = stream;
    video.srcObject = stream;
    video.play().catch(() => {});
    await this.fillChoices();
    this.meter();
  }

  async fillChoices() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const stream = /** @type {MediaStream} */ (this.stream);
    for (const [select, kind, track] of /** @type {const} */ ([
      [this.ui.cameras, 'videoinput', stream.getVideoTracks()[0]],
      [this.ui.mics, 'audioinput', stream.getAudioTracks()[0]],
    ])) {
      const current = track ? track.getSettings().deviceId : '';
      select.replaceChildren(...deviceChoices(devices, kind).map(({ id, label }) => {
        const o = document.createElement('option');
        o.value = id;
        o.textContent = label;
        o.selected = id === current;
        return o;
      }));
    }
  }

  /** Shows the microphone's level, ten times a second. */
  meter() {
    clearInterval(this.timer);
    const stream = /** @type {MediaStream} */ (this.stream);
    if (!stream.getAudioTracks().length) return;
    this.ctx = this.ctx || new AudioContext();
    const analyser = this.ctx.createAnalyser();
    analyser.fftSize = 1024;
    this.ctx.createMediaStreamSource(stream).connect(analyser);
    const buf = new Float32Array(analyser.fftSize);
    this.timer = setInterval(() => {
      analyser.getFloatTimeDomainData(buf);
      // Speech peaks near 0.3 RMS; scale so the meter uses its range.
      this.ui.meter.value = Math.min(1, rms(buf) * 4);
    }, 100);
  }

  /** Stops the preview's own work and its tracks. */
  release() {
    clearInterval(this.timer);
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    this.stream = null;
  }

  /**
   * Hands the stream to the call (it keeps sending it) with what the user
   * chose to join with; the preview stops. Null if nothing was opened.
   */
  take() {
    this.stopped = true;
    clearInterval(this.timer);
    if (this.ctx) this.ctx.close().catch(() => {});
    const stream = this.stream;
    this.stream = null;
    this.ui.video.srcObject = null;
    if (!stream) return null;
    return { stream, audio: this.ui.micOn.checked, video: this.ui.camOn.checked };
  }

  /** Closes the preview without joining. */
  close() {
    this.stopped = true;
    this.release();
    if (this.ctx) this.ctx.close().catch(() => {});
  }
}
