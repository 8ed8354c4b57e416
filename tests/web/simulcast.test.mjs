// The page's simulcast policy (crates/web/assets/simulcast.js): the layers
// its camera is sent in; video_width, one size class for every track, told
// once per change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VideoWidths, cameraLayers, widthFor } from '../../crates/web/assets/simulcast.js';

test('a tile width becomes a size class', () => {
  assert.equal(widthFor(0), 160);
  assert.equal(widthFor(150), 160);
  assert.equal(widthFor(161), 320);
  assert.equal(widthFor(640), 640);
  assert.equal(widthFor(641), 0, 'wider than the top step: no limit');
});

test('every track gets the same width, and only changes are sent', () => {
  const sent = [];
  const w = new VideoWidths((mid, width) => sent.push([mid, width]));
  w.update(300, ['1', '3']);
  assert.deepEqual(sent, [['1', 320], ['3', 320]]);
  w.update(310, ['1', '3']);
  assert.equal(sent.length, 2, 'same class: nothing sent');
  w.update(310, ['1', '3', '5']);
  assert.deepEqual(sent.at(-1), ['5', 320], 'a new track is told too');
  w.update(1000, ['3', '5']);
  assert.deepEqual(sent.slice(3), [['3', 0], ['5', 0]], 'the gone track is not');
  w.update(1000, ['1']);
  assert.deepEqual(sent.at(-1), ['1', 0], 'a track that came back is told again');
});

test('a camera is sent in as many layers as Chromium sends, the full one always among them', () => {
  assert.deepEqual(cameraLayers(720).map((l) => l.rid), ['q', 'h', 'f']);
  assert.deepEqual(cameraLayers(480).map((l) => l.rid), ['h', 'f']);
  assert.deepEqual(cameraLayers(240).map((l) => l.rid), ['f']);
  assert.deepEqual(cameraLayers(0).map((l) => l.rid), ['f'], 'size unknown: one layer');
  const a = cameraLayers(720);
  a[0].maxBitrate = 1;
  assert.notEqual(cameraLayers(720)[0].maxBitrate, 1, 'each call gets its own copies');
});
