// Device choices before joining (crates/web/assets/prejoin.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deviceChoices } from '../../crates/web/assets/prejoin.js';

test('cameras and microphones are listed by kind, with a label even when the browser hides it', () => {
  const devices = [
    { deviceId: 'c1', kind: 'videoinput', label: 'USB camera' },
    { deviceId: 'm1', kind: 'audioinput', label: '' },
    { deviceId: 'c2', kind: 'videoinput', label: '' },
    { deviceId: 's1', kind: 'audiooutput', label: 'Speakers' },
    { deviceId: '', kind: 'audioinput', label: '' },
  ];
  assert.deepEqual(deviceChoices(devices, 'videoinput'), [{ id: 'c1', label: 'USB camera' }, { id: 'c2', label: 'Camera 2' }]);
  assert.deepEqual(deviceChoices(devices, 'audioinput'), [{ id: 'm1', label: 'Microphone 1' }]);
});
