// @ts-check
// Switching camera or microphone during the call (issue 13 item 2). The new
// device's track takes the old one's place on the same sender
// (Media.switchDevice: replaceTrack), so the encryption transform, the
// m-line and the simulcast layers stay, and the relay sees no signaling: to
// it the packets simply go on. A muted microphone stays muted on the new
// device; a device that cannot be opened leaves the old one sending.

import { deviceChoices } from './prejoin.js';

/** @typedef {import('./media.js').Media} Media */

/** The call's camera and microphone choices (the selects in the controls). */
export class DeviceSwitch {
  /**
   * @param {object} opts
   * @param {Media} opts.media
   * @param {HTMLSelectElement} opts.cameras
   * @param {HTMLSelectElement} opts.mics
   * @param {(text: string, kind?: string) => void} opts.note a line in the event list
   * @param {() => void} opts.onSwitched we send from another device now (redraw our tile)
   */
  constructor({ media, cameras, mics, note, onSwitched }) {
    this.media = media;
    this.ui = { cameras, mics };
    this.note = note;
    this.onSwitched = onSwitched;
    this.closed = false;
    /** One switch at a time, in the order chosen. */
    this.queue = Promise.resolve();
    cameras.onchange = () => this.choose('video', cameras.value);
    mics.onchange = () => this.choose('audio', mics.value);
    this.onDeviceChange = () => { this.fill().catch(() => {}); };
    navigator.mediaDevices.addEventListener('devicechange', this.onDeviceChange);
  }

  /** Lists the devices, each select showing the one we send from. */
  async fill() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    if (this.closed) return;
    const now = this.media.devices();
    for (const [select, kind, current] of /** @type {const} */ ([
      [this.ui.cameras, 'videoinput', now.video],
      [this.ui.mics, 'audioinput', now.audio],
    ])) {
      const choices = deviceChoices(devices, kind);
      select.replaceChildren(...choices.map(({ id, label }) => {
        const o = document.createElement('option');
        o.value = id;
        o.textContent = label;
        o.selected = id === current;
        return o;
      }));
      // Nothing to choose between (or nothing at all): not a control.
      select.disabled = choices.length < 2 || !current;
    }
  }

  /**
   * Sends from `deviceId` from now on.
   * @param {'audio' | 'video'} kind
   * @param {string} deviceId
   */
  choose(kind, deviceId) {
    this.queue = this.queue.then(async () => {
      if (this.closed) return;
      const select = kind === 'audio' ? this.ui.mics : this.ui.cameras;
      try {
        const track = await this.media.switchDevice(kind, deviceId);
        if (!track || this.closed) return;
        this.onSwitched();
        this.note(`Now using ${track.label || (kind === 'audio' ? 'another microphone' : 'another camera')}`);
      } catch (e) {
        this.note(e instanceof Error ? e.message : String(e), 'warn');
      }
      // Show what is really sent (the old device, if the switch failed).
      if (!this.closed) await this.fill().catch(() => {});
      select.focus();
    });
    return this.queue;
  }

  close() {
    this.closed = true;
    navigator.mediaDevices.removeEventListener('devicechange', this.onDeviceChange);
    this.ui.cameras.onchange = null;
    this.ui.mics.onchange = null;
  }
}
