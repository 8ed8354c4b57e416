// Chat inside the encrypted group (crates/web/assets/chat.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHAT_KEPT, ChatLog, MAX_CHAT_LEN, chatText, readChat } from '../../crates/web/assets/chat.js';

test('what the user typed: trimmed, not empty, not too long', () => {
  assert.deepEqual(chatText('  hi  '), { text: 'hi' });
  assert.match(chatText('   ').error, /type a message/);
  assert.match(chatText('x'.repeat(MAX_CHAT_LEN + 1)).error, /at most 1000/);
  assert.deepEqual(chatText('🌍'.repeat(MAX_CHAT_LEN)), { text: '🌍'.repeat(MAX_CHAT_LEN) }, 'characters, not UTF-16 units');
});

test('only well-formed chat messages are read', () => {
  assert.equal(readChat({ chat: { text: 'hello' } }), 'hello');
  for (const bad of [null, 7, {}, { chat: 'x' }, { chat: { text: 5 } }, { chat: { text: '  ' } }, { chat: { text: 'y'.repeat(MAX_CHAT_LEN + 1) } }, { profile: { name: 'a' } }]) {
    assert.equal(readChat(bad), null, JSON.stringify(bad));
  }
});

test('the history keeps the newest messages', () => {
  const log = new ChatLog();
  for (let i = 0; i < CHAT_KEPT + 5; i++) log.add({ name: 'a', text: String(i), own: false, at: i });
  assert.equal(log.items.length, CHAT_KEPT);
  assert.equal(log.items[0].text, '5');
});
