// @ts-check
// Simulcast, the page's part (docs/design.md, "As built"): the layers our
// camera is sent in ([cameraLayers]), and how wide this page shows remote
// video, told to the relay (`video_width`) so that it forwards a layer that
// fits instead of the largest ([VideoWidths]). One width for every track, the
// widest tile's: a width per track would tell the relay whom this viewer
// shows large, and a layout that enlarges whoever speaks would tell it who
// speaks (docs/operator-view.md). Widths are rounded up to a few steps, so
// the relay learns a size class, not the window's exact size.
//
// Pure: tests/web/simulcast.test.mjs.

/** The widths asked for, in device pixels; above the last, no limit (0). */
export const WIDTH_STEPS = [160, 320, 640];

/**
 * The width to ask for when the widest tile is `px` device pixels wide.
 * @param {number} px
 */
export function widthFor(px) {
  for (const step of WIDTH_STEPS) if (px <= step) return step;
  return 0;
}

/** What was told to the relay per video m-line, to say only what changed. */
export class VideoWidths {
  /** @param {(mid: string, width: number) => void} send */
  constructor(send) {
    this.send = send;
    /** @type {Map<string, number>} */
    this.told = new Map();
  }

  /**
   * The widest tile is `px` device pixels; `mids` are the video m-lines we
   * receive now. Tells the relay the width for each that was told another
   * (or nothing) and forgets m-lines that are gone.
   * @param {number} px
   * @param {string[]} mids
   */
  update(px, mids) {
    const width = widthFor(px);
    for (const mid of this.told.keys()) if (!mids.includes(mid)) this.told.delete(mid);
    for (const mid of mids) {
      if (this.told.get(mid) === width) continue;
      this.told.set(mid, width);
      this.send(mid, width);
    }
  }
}

/**
 * The camera is sent in up to three layers (simulcast), lowest first: the
 * relay forwards each viewer one of them, the widest that fits
 * (docs/design.md, "As built"). The layers are encrypted like any frame;
 * the relay sees only which layer a packet is and a key frame's size.
 * Chromium sends at most 3 layers from 540 lines up, 2 from 270 and keeps
 * the first ones listed: [cameraLayers] lists only as many as it sends,
 * so the full-size layer is always among them.
 * @type {RTCRtpEncodingParameters[]}
 */
export const CAMERA_LAYERS = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];

/**
 * The layers for a camera `height` lines high: the top ones of CAMERA_LAYERS.
 * @param {number} height
 */
export function cameraLayers(height) {
  const count = height >= 540 ? 3 : height >= 270 ? 2 : 1;
  return CAMERA_LAYERS.slice(CAMERA_LAYERS.length - count).map((l) => ({ ...l }));
}
