/**
 * One device in one call: first a joiner (or the creator), then a member of
 * the room's MLS group. Feed it every `mls` envelope from the relay with
 * [`Call::handle`]; send what its methods return.
 */
export class Call {
    __destroy_into_raw() {
        const ptr = this.__wbg_ptr;
        this.__wbg_ptr = 0;
        CallFinalization.unregister(this);
        return ptr;
    }
    free() {
        const ptr = this.__destroy_into_raw();
        wasm.__wbg_call_free(ptr, 0);
    }
    /**
     * The room's admission secret since a member revoked its first link
     * (base64url, for `a=` in the link to share), or undefined while the
     * first link still admits.
     * @returns {string | undefined}
     */
    admissionSecret() {
        const ret = wasm.call_admissionSecret(this.__wbg_ptr);
        let v1;
        if (ret[0] !== 0) {
            v1 = getStringFromWasm0(ret[0], ret[1]);
            wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        }
        return v1;
    }
    /**
     * Commits a path-less Add of the checked join requests named by
     * `tickets`; returns the envelope to send.
     * @param {string[]} tickets
     * @returns {Uint8Array}
     */
    admit(tickets) {
        const ptr0 = passArrayJsValueToWasm0(tickets, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.call_admit(this.__wbg_ptr, ptr0, len0);
        if (ret[3]) {
            throw takeFromExternrefTable0(ret[2]);
        }
        var v2 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        return v2;
    }
    /**
     * Commits stored proposals (members' requests to leave).
     * @returns {Uint8Array}
     */
    commitPending() {
        const ret = wasm.call_commitPending(this.__wbg_ptr);
        if (ret[3]) {
            throw takeFromExternrefTable0(ret[2]);
        }
        var v1 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        return v1;
    }
    /**
     * Creates the room's group, alone, at epoch 0. With `host_approval`, this
     * device is the room's only host and only it may admit joiners.
     * @param {boolean} host_approval
     */
    create(host_approval) {
        const ret = wasm.call_create(this.__wbg_ptr, host_approval);
        if (ret[1]) {
            throw takeFromExternrefTable0(ret[0]);
        }
    }
    /**
     * Drops a pending join request (e.g. a host pressed Deny).
     * @param {string} ticket
     */
    dropJoin(ticket) {
        const ptr0 = passStringToWasm0(ticket, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len0 = WASM_VECTOR_LEN;
        wasm.call_dropJoin(this.__wbg_ptr, ptr0, len0);
    }
    /**
     * The current epoch (0 before joining).
     * @returns {number}
     */
    epoch() {
        const ret = wasm.call_epoch(this.__wbg_ptr);
        return ret;
    }
    /**
     * Handles one envelope from the relay (the bytes of an `mls` message's
     * `data`) and returns what it meant as JSON: an object whose `kind` is
     * `join_request`, `welcomed`, `epoch`, `rejected`, `leave_requested`,
     * `application`, `removed`, `refused`, `duplicate` or `ignored`.
     * @param {Uint8Array | number[]} bytes
     * @param {number} now_ms
     * @returns {string}
     */
    handle(bytes, now_ms) {
        let deferred3_0;
        let deferred3_1;
        try {
            const val2 = +now_ms;
            const ptr0 = passArray8ToWasm0(bytes, wasm.__wbindgen_malloc);
            const len0 = WASM_VECTOR_LEN;
            const ret = wasm.call_handle(this.__wbg_ptr, ptr0, len0, val2);
            deferred3_0 = ret[0];
            deferred3_1 = ret[1];
            return getStringFromWasm0(ret[0], ret[1]);
        } finally {
            wasm.__wbindgen_free(deferred3_0, deferred3_1, 1);
        }
    }
    /**
     * Whether a commit of ours awaits the delivery service's verdict.
     * @returns {boolean}
     */
    hasPendingCommit() {
        const ret = wasm.call_hasPendingCommit(this.__wbg_ptr);
        return ret !== 0;
    }
    /**
     * Whether this device is a member of the group.
     * @returns {boolean}
     */
    isMember() {
        const ret = wasm.call_isMember(this.__wbg_ptr);
        return ret !== 0;
    }
    /**
     * A join request envelope (fresh KeyPackage, proof of the link secret
     * made at `now_ms`). Call again to retry; each has a new ticket.
     * @param {number} now_ms
     * @returns {Uint8Array}
     */
    joinRequest(now_ms) {
        const ret = wasm.call_joinRequest(this.__wbg_ptr, now_ms);
        if (ret[3]) {
            throw takeFromExternrefTable0(ret[2]);
        }
        var v1 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        return v1;
    }
    /**
     * Asks to leave: a self-remove proposal (MLS; only this member can make
     * it), which another member commits. Returns the envelope to send; stop
     * sending media now.
     * @returns {Uint8Array}
     */
    leave() {
        const ret = wasm.call_leave(this.__wbg_ptr);
        if (ret[3]) {
            throw takeFromExternrefTable0(ret[2]);
        }
        var v1 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        return v1;
    }
    /**
     * This epoch's SFrame keys, serialized for the media worker
     * ([`FrameEncryptor::set_epoch`], [`FrameDecryptor::add_epoch`]). Secret:
     * hand it only to this tab's worker.
     * @returns {Uint8Array}
     */
    mediaEpoch() {
        const ret = wasm.call_mediaEpoch(this.__wbg_ptr);
        if (ret[3]) {
            throw takeFromExternrefTable0(ret[2]);
        }
        var v1 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        return v1;
    }
    /**
     * A fresh device identity for the room of `room`.
     * @param {RoomKey} room
     */
    constructor(room) {
        _assertClass(room, RoomKey);
        const ret = wasm.call_new(room.__wbg_ptr);
        this.__wbg_ptr = ret;
        CallFinalization.register(this, this.__wbg_ptr, this);
        return this;
    }
    /**
     * Our leaf, or -1 before joining.
     * @returns {number}
     */
    ownLeaf() {
        const ret = wasm.call_ownLeaf(this.__wbg_ptr);
        return ret;
    }
    /**
     * Tickets of checked join requests nobody has admitted yet, oldest first.
     * @returns {string[]}
     */
    pendingJoins() {
        const ret = wasm.call_pendingJoins(this.__wbg_ptr);
        var v1 = getArrayJsValueFromWasm0(ret[0], ret[1]);
        wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
        return v1;
    }
    /**
     * The room policy as JSON `{"hostApproval":…, "amHost":…,
     * "hostsOnlyRemove":…, "e2eeRequired":…, "audioPadding":…}`.
     * @returns {string}
     */
    policy() {
        let deferred1_0;
        let deferred1_1;
        try {
            const ret = wasm.call_policy(this.__wbg_ptr);
            deferred1_0 = ret[0];
            deferred1_1 = ret[1];
            return getStringFromWasm0(ret[0], ret[1]);
        } finally {
            wasm.__wbindgen_free(deferred1_0, deferred1_1, 1);
        }
    }
    /**
     * Commits the removal of `leaves`; returns the envelope to send.
     * @param {Uint32Array | number[]} leaves
     * @returns {Uint8Array}
     */
    remove(leaves) {
        const ptr0 = passArray32ToWasm0(leaves, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.call_remove(this.__wbg_ptr, ptr0, len0);
        if (ret[3]) {
            throw takeFromExternrefTable0(ret[2]);
        }
        var v2 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        return v2;
    }
    /**
     * Removes `leaves` and revokes the room's link (issue 10, revocation):
     * once applied, every member holds a new admission secret
     * ([`Call::admission_secret`]) and the old link admits nobody. Returns
     * the envelope to send.
     * @param {Uint32Array | number[]} leaves
     * @returns {Uint8Array}
     */
    revoke(leaves) {
        const ptr0 = passArray32ToWasm0(leaves, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.call_revoke(this.__wbg_ptr, ptr0, len0);
        if (ret[3]) {
            throw takeFromExternrefTable0(ret[2]);
        }
        var v2 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        return v2;
    }
    /**
     * The group's leaves as JSON `[{"leaf":0,"identity":"<hex>","host":false}]`,
     * in leaf order: who is in the call, whatever the relay says.
     * @returns {string}
     */
    roster() {
        let deferred1_0;
        let deferred1_1;
        try {
            const ret = wasm.call_roster(this.__wbg_ptr);
            deferred1_0 = ret[0];
            deferred1_1 = ret[1];
            return getStringFromWasm0(ret[0], ret[1]);
        } finally {
            wasm.__wbindgen_free(deferred1_0, deferred1_1, 1);
        }
    }
    /**
     * The current safety code (`12345 67890 …`), or "" before joining.
     * @returns {string}
     */
    safetyCode() {
        let deferred1_0;
        let deferred1_1;
        try {
            const ret = wasm.call_safetyCode(this.__wbg_ptr);
            deferred1_0 = ret[0];
            deferred1_1 = ret[1];
            return getStringFromWasm0(ret[0], ret[1]);
        } finally {
            wasm.__wbindgen_free(deferred1_0, deferred1_1, 1);
        }
    }
    /**
     * Commits a self-update (fresh leaf keys, new epoch); returns the
     * envelope to send.
     * @returns {Uint8Array}
     */
    selfUpdate() {
        const ret = wasm.call_selfUpdate(this.__wbg_ptr);
        if (ret[3]) {
            throw takeFromExternrefTable0(ret[2]);
        }
        var v1 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        return v1;
    }
    /**
     * Encrypts an application message (e.g. our profile) for the group,
     * padded to a multiple of [`APPLICATION_PAD`] bytes so its length does
     * not tell the relay how long a name is.
     * @param {string} text
     * @returns {Uint8Array}
     */
    send(text) {
        const ptr0 = passStringToWasm0(text, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.call_send(this.__wbg_ptr, ptr0, len0);
        if (ret[3]) {
            throw takeFromExternrefTable0(ret[2]);
        }
        var v2 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        return v2;
    }
    /**
     * Seals `name` into the join requests this device sends, so a host
     * deciding whether to let it in sees who asks (the relay cannot read it).
     * @param {string} name
     */
    setName(name) {
        const ptr0 = passStringToWasm0(name, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len0 = WASM_VECTOR_LEN;
        wasm.call_setName(this.__wbg_ptr, ptr0, len0);
    }
}
if (Symbol.dispose) Call.prototype[Symbol.dispose] = Call.prototype.free;

/**
 * Authenticates and decrypts received frames across epoch changes.
 */
export class FrameDecryptor {
    __destroy_into_raw() {
        const ptr = this.__wbg_ptr;
        this.__wbg_ptr = 0;
        FrameDecryptorFinalization.unregister(this);
        return ptr;
    }
    free() {
        const ptr = this.__destroy_into_raw();
        wasm.__wbg_framedecryptor_free(ptr, 0);
    }
    /**
     * Installs an epoch's keys (from [`Call::media_epoch`]); the previous
     * epoch stays usable for 10 s.
     * @param {Uint8Array | number[]} epoch_bytes
     * @param {number} now_ms
     */
    addEpoch(epoch_bytes, now_ms) {
        const val2 = +now_ms;
        const ptr0 = passArray8ToWasm0(epoch_bytes, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.framedecryptor_addEpoch(this.__wbg_ptr, ptr0, len0, val2);
        if (ret[1]) {
            throw takeFromExternrefTable0(ret[0]);
        }
    }
    /**
     * Drops all keys (e.g. after leaving).
     */
    clear() {
        wasm.framedecryptor_clear(this.__wbg_ptr);
    }
    /**
     * Decrypts one frame; throws (drop the frame) if it does not
     * authenticate under a held epoch's key, is a replay, or names a sender
     * that is not a member.
     * @param {string} codec_name
     * @param {Uint8Array | number[]} data
     * @param {number} now_ms
     * @returns {Uint8Array}
     */
    decrypt(codec_name, data, now_ms) {
        const val3 = +now_ms;
        let ptr0, len0, ptr1, len1;
        try {
            ptr0 = passStringToWasm0(codec_name, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len0 = WASM_VECTOR_LEN;
            ptr1 = passArray8ToWasm0(data, wasm.__wbindgen_malloc);
            len1 = WASM_VECTOR_LEN;
        } catch (e) {
            if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
            if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 1, 1); }
            throw e;
        }
        const ret = wasm.framedecryptor_decrypt(this.__wbg_ptr, ptr0, len0, ptr1, len1, val3);
        if (ret[3]) {
            throw takeFromExternrefTable0(ret[2]);
        }
        var v4 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        return v4;
    }
    /**
     * Epochs keys are held for, oldest first.
     * @param {number} now_ms
     * @returns {Float64Array}
     */
    epochs(now_ms) {
        const ret = wasm.framedecryptor_epochs(this.__wbg_ptr, now_ms);
        var v1 = getArrayF64FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 8, 8);
        return v1;
    }
    /**
     * The stream of the last decrypted frame, from the key that opened it:
     * 0 camera and microphone, 1 screen share.
     * @returns {number}
     */
    lastContext() {
        const ret = wasm.framedecryptor_lastContext(this.__wbg_ptr);
        return ret >>> 0;
    }
    /**
     * The epoch of the last decrypted frame.
     * @returns {number}
     */
    lastEpoch() {
        const ret = wasm.framedecryptor_lastEpoch(this.__wbg_ptr);
        return ret;
    }
    /**
     * The leaf that sent the last decrypted frame.
     * @returns {number}
     */
    lastSender() {
        const ret = wasm.framedecryptor_lastSender(this.__wbg_ptr);
        return ret >>> 0;
    }
    /**
     * A decryptor without keys: every frame fails until
     * [`FrameDecryptor::add_epoch`].
     */
    constructor() {
        const ret = wasm.framedecryptor_new();
        this.__wbg_ptr = ret;
        FrameDecryptorFinalization.register(this, this.__wbg_ptr, this);
        return this;
    }
}
if (Symbol.dispose) FrameDecryptor.prototype[Symbol.dispose] = FrameDecryptor.prototype.free;

/**
 * Encrypts this device's outgoing frames of one stream: camera and
 * microphone (context 0, both kinds share one counter, so use one encryptor
 * for them) or a screen share ([`FrameEncryptor::with_context`], context 1:
 * its own key and counter).
 */
export class FrameEncryptor {
    static __wrap(ptr) {
        const obj = Object.create(FrameEncryptor.prototype);
        obj.__wbg_ptr = ptr;
        FrameEncryptorFinalization.register(obj, obj.__wbg_ptr, obj);
        return obj;
    }
    __destroy_into_raw() {
        const ptr = this.__wbg_ptr;
        this.__wbg_ptr = 0;
        FrameEncryptorFinalization.unregister(this);
        return ptr;
    }
    free() {
        const ptr = this.__destroy_into_raw();
        wasm.__wbg_frameencryptor_free(ptr, 0);
    }
    /**
     * How many leading bytes of `frame` stay in clear for `codec`.
     * @param {string} codec_name
     * @param {Uint8Array | number[]} frame
     * @returns {number}
     */
    static clearPrefix(codec_name, frame) {
        let ptr0, len0, ptr1, len1;
        try {
            ptr0 = passStringToWasm0(codec_name, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len0 = WASM_VECTOR_LEN;
            ptr1 = passArray8ToWasm0(frame, wasm.__wbindgen_malloc);
            len1 = WASM_VECTOR_LEN;
        } catch (e) {
            if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
            if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 1, 1); }
            throw e;
        }
        const ret = wasm.frameencryptor_clearPrefix(ptr0, len0, ptr1, len1);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return ret[0] >>> 0;
    }
    /**
     * The stream context this encryptor's frames carry in their KID.
     * @returns {number}
     */
    context() {
        const ret = wasm.frameencryptor_context(this.__wbg_ptr);
        return ret >>> 0;
    }
    /**
     * Encrypts one encoded frame of `codec` (`vp8`, `opus`, or a MIME type
     * like `video/VP8`). Throws without keys: there is no plaintext mode.
     * @param {string} codec_name
     * @param {Uint8Array | number[]} frame
     * @returns {Uint8Array}
     */
    encrypt(codec_name, frame) {
        let ptr0, len0, ptr1, len1;
        try {
            ptr0 = passStringToWasm0(codec_name, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len0 = WASM_VECTOR_LEN;
            ptr1 = passArray8ToWasm0(frame, wasm.__wbindgen_malloc);
            len1 = WASM_VECTOR_LEN;
        } catch (e) {
            if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
            if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 1, 1); }
            throw e;
        }
        const ret = wasm.frameencryptor_encrypt(this.__wbg_ptr, ptr0, len0, ptr1, len1);
        if (ret[3]) {
            throw takeFromExternrefTable0(ret[2]);
        }
        var v3 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        return v3;
    }
    /**
     * The epoch frames are encrypted under, or -1 without keys.
     * @returns {number}
     */
    epoch() {
        const ret = wasm.frameencryptor_epoch(this.__wbg_ptr);
        return ret;
    }
    /**
     * An encryptor without keys: it refuses to encrypt until
     * [`FrameEncryptor::set_epoch`].
     */
    constructor() {
        const ret = wasm.frameencryptor_new();
        this.__wbg_ptr = ret;
        FrameEncryptorFinalization.register(this, this.__wbg_ptr, this);
        return this;
    }
    /**
     * Switches to the epoch in `epoch_bytes` (from [`Call::media_epoch`]).
     * The same epoch again changes nothing: its frame counter goes on (a
     * fresh sender would count from 0 under the same key, repeating SFrame
     * nonces, and receivers would drop those frames as replays).
     * @param {Uint8Array | number[]} epoch_bytes
     */
    setEpoch(epoch_bytes) {
        const ptr0 = passArray8ToWasm0(epoch_bytes, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.frameencryptor_setEpoch(this.__wbg_ptr, ptr0, len0);
        if (ret[1]) {
            throw takeFromExternrefTable0(ret[0]);
        }
    }
    /**
     * An encryptor without keys for the stream `context` (0: camera and
     * microphone, 1: screen share); throws for any other.
     * @param {number} context
     * @returns {FrameEncryptor}
     */
    static withContext(context) {
        const ret = wasm.frameencryptor_withContext(context);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return FrameEncryptor.__wrap(ret[0]);
    }
}
if (Symbol.dispose) FrameEncryptor.prototype[Symbol.dispose] = FrameEncryptor.prototype.free;

/**
 * A room's secret and what derives from it. Made fresh for "New meeting" or
 * parsed from the link's fragment; never sent to the relay.
 */
export class RoomKey {
    static __wrap(ptr) {
        const obj = Object.create(RoomKey.prototype);
        obj.__wbg_ptr = ptr;
        RoomKeyFinalization.register(obj, obj.__wbg_ptr, obj);
        return obj;
    }
    __destroy_into_raw() {
        const ptr = this.__wbg_ptr;
        this.__wbg_ptr = 0;
        RoomKeyFinalization.unregister(this);
        return ptr;
    }
    free() {
        const ptr = this.__destroy_into_raw();
        wasm.__wbg_roomkey_free(ptr, 0);
    }
    /**
     * The admission secret the link carries, if any (for the link to share).
     * @returns {string | undefined}
     */
    admission() {
        const ret = wasm.roomkey_admission(this.__wbg_ptr);
        let v1;
        if (ret[0] !== 0) {
            v1 = getStringFromWasm0(ret[0], ret[1]);
            wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        }
        return v1;
    }
    /**
     * The founder token (43 base64url characters) every `join` message
     * carries: the relay checks that it hashes to the room id, so only
     * someone who opened the link can enter the room. It is not the secret:
     * the relay cannot derive the secret, the admit key or any media key
     * from it.
     * @returns {string}
     */
    founderToken() {
        let deferred1_0;
        let deferred1_1;
        try {
            const ret = wasm.roomkey_founderToken(this.__wbg_ptr);
            deferred1_0 = ret[0];
            deferred1_1 = ret[1];
            return getStringFromWasm0(ret[0], ret[1]);
        } finally {
            wasm.__wbindgen_free(deferred1_0, deferred1_1, 1);
        }
    }
    /**
     * The secret from a link fragment (43 base64url characters).
     * @param {string} secret
     * @returns {RoomKey}
     */
    static fromSecret(secret) {
        const ptr0 = passStringToWasm0(secret, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.roomkey_fromSecret(ptr0, len0);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return RoomKey.__wrap(ret[0]);
    }
    /**
     * A fresh secret for a new meeting (from the browser's CSPRNG).
     * @returns {RoomKey}
     */
    static generate() {
        const ret = wasm.roomkey_generate();
        return RoomKey.__wrap(ret);
    }
    /**
     * The meeting link `BASE/#<secret>`; `base` is the relay's
     * origin, e.g. `https://relay.example:8443`.
     * @param {string} base
     * @returns {string}
     */
    link(base) {
        let deferred3_0;
        let deferred3_1;
        try {
            const ptr0 = passStringToWasm0(base, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            const len0 = WASM_VECTOR_LEN;
            const ret = wasm.roomkey_link(this.__wbg_ptr, ptr0, len0);
            var ptr2 = ret[0];
            var len2 = ret[1];
            if (ret[3]) {
                ptr2 = 0; len2 = 0;
                throw takeFromExternrefTable0(ret[2]);
            }
            deferred3_0 = ptr2;
            deferred3_1 = len2;
            return getStringFromWasm0(ptr2, len2);
        } finally {
            wasm.__wbindgen_free(deferred3_0, deferred3_1, 1);
        }
    }
    /**
     * Whether `room_id` (a link's path) names this secret's room: its current
     * id ([`RoomKey::room_id`]) or the id links carried before signaling
     * protocol 2. For an old link, connect to [`RoomKey::room_id`]: the
     * relay checks the founder token against that one only.
     * @param {string} room_id
     * @returns {boolean}
     */
    matchesRoom(room_id) {
        const ptr0 = passStringToWasm0(room_id, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.roomkey_matchesRoom(this.__wbg_ptr, ptr0, len0);
        return ret !== 0;
    }
    /**
     * Parses a whole link, refusing one whose room id does not derive from
     * its secret (an edited link).
     * @param {string} link
     * @returns {RoomKey}
     */
    static parseLink(link) {
        const ptr0 = passStringToWasm0(link, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.roomkey_parseLink(ptr0, len0);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return RoomKey.__wrap(ret[0]);
    }
    /**
     * The relay-visible room id (22 base64url characters): the one to
     * connect to (`/r/<room-id>/ws`), even when the link carried an older one.
     * @returns {string}
     */
    roomId() {
        let deferred1_0;
        let deferred1_1;
        try {
            const ret = wasm.roomkey_roomId(this.__wbg_ptr);
            deferred1_0 = ret[0];
            deferred1_1 = ret[1];
            return getStringFromWasm0(ret[0], ret[1]);
        } finally {
            wasm.__wbindgen_free(deferred1_0, deferred1_1, 1);
        }
    }
    /**
     * The secret as it appears in the link fragment.
     * @returns {string}
     */
    secret() {
        let deferred1_0;
        let deferred1_1;
        try {
            const ret = wasm.roomkey_secret(this.__wbg_ptr);
            deferred1_0 = ret[0];
            deferred1_1 = ret[1];
            return getStringFromWasm0(ret[0], ret[1]);
        } finally {
            wasm.__wbindgen_free(deferred1_0, deferred1_1, 1);
        }
    }
    /**
     * Takes the link's admission secret (`a=` in the fragment, 43 base64url
     * characters): the room revoked its first link, and join proofs must be
     * made with this one.
     * @param {string} admission
     */
    setAdmission(admission) {
        const ptr0 = passStringToWasm0(admission, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.roomkey_setAdmission(this.__wbg_ptr, ptr0, len0);
        if (ret[1]) {
            throw takeFromExternrefTable0(ret[0]);
        }
    }
}
if (Symbol.dispose) RoomKey.prototype[Symbol.dispose] = RoomKey.prototype.free;
function __wbg_get_imports() {
    const import0 = {
        __proto__: null,
        __wbg_Error_208446807d0d1e30: function(arg0, arg1) {
            const ret = Error(getStringFromWasm0(arg0, arg1));
            return ret;
        },
        __wbg___wbindgen_is_function_741ff2bb612836f5: function(arg0) {
            const ret = typeof(arg0) === 'function';
            return ret;
        },
        __wbg___wbindgen_is_object_8b968c3ab8e96595: function(arg0) {
            const val = arg0;
            const ret = typeof(val) === 'object' && val !== null;
            return ret;
        },
        __wbg___wbindgen_is_string_fc456fee5d3317de: function(arg0) {
            const ret = typeof(arg0) === 'string';
            return ret;
        },
        __wbg___wbindgen_is_undefined_be5b34249ff1fc15: function(arg0) {
            const ret = arg0 === undefined;
            return ret;
        },
        __wbg___wbindgen_string_get_7ce8eee7fd327545: function(arg0, arg1) {
            const obj = arg1;
            const ret = typeof(obj) === 'string' ? obj : undefined;
            var ptr1 = isLikeNone(ret) ? 0 : passStringToWasm0(ret, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            var len1 = WASM_VECTOR_LEN;
            getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 1, len1, true);
            getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 0, ptr1, true);
        },
        __wbg___wbindgen_throw_4c88d8bf264fd984: function(arg0, arg1) {
            throw new Error(getStringFromWasm0(arg0, arg1));
        },
        __wbg_call_a410eb4b59ed5965: function() { return handleError(function (arg0, arg1, arg2) {
            const ret = arg0.call(arg1, arg2);
            return ret;
        }, arguments); },
        __wbg_crypto_23f565a907d30078: function(arg0) {
            const ret = arg0.crypto;
            return ret;
        },
        __wbg_getRandomValues_8b6f1f663e6f188d: function() { return handleError(function (arg0, arg1) {
            globalThis.crypto.getRandomValues(getArrayU8FromWasm0(arg0, arg1));
        }, arguments); },
        __wbg_getRandomValues_d2908e0b99612b91: function() { return handleError(function (arg0, arg1) {
            arg0.getRandomValues(arg1);
        }, arguments); },
        __wbg_length_186163212ffe79c3: function(arg0) {
            const ret = arg0.length;
            return ret;
        },
        __wbg_msCrypto_d5f06fad6bf1409b: function(arg0) {
            const ret = arg0.msCrypto;
            return ret;
        },
        __wbg_new_with_length_01b143a7e5dd5a3e: function(arg0) {
            const ret = new Uint8Array(arg0 >>> 0);
            return ret;
        },
        __wbg_node_86166ff8ce1f2002: function(arg0) {
            const ret = arg0.node;
            return ret;
        },
        __wbg_now_463ac581d2fc7ea3: function() {
            const ret = Date.now();
            return ret;
        },
        __wbg_process_91f425a63f58e399: function(arg0) {
            const ret = arg0.process;
            return ret;
        },
        __wbg_prototypesetcall_13162965d1fe7aa3: function(arg0, arg1, arg2) {
            Uint8Array.prototype.set.call(getArrayU8FromWasm0(arg0, arg1), arg2);
        },
        __wbg_randomFillSync_34b023059e3363de: function() { return handleError(function (arg0, arg1) {
            arg0.randomFillSync(arg1);
        }, arguments); },
        __wbg_require_9a7d8cc2e1d275c0: function() { return handleError(function () {
            const ret = module.require;
            return ret;
        }, arguments); },
        __wbg_static_accessor_GLOBAL_THIS_003ee833af9699fc: function() {
            const ret = typeof globalThis === 'undefined' ? undefined : globalThis;
            return isLikeNone(ret) ? 0 : addToExternrefTable0(ret);
        },
        __wbg_static_accessor_GLOBAL_e4293fb22cbe77da: function() {
            const ret = typeof global === 'undefined' ? undefined : global;
            return isLikeNone(ret) ? 0 : addToExternrefTable0(ret);
        },
        __wbg_static_accessor_SELF_53bb20457401453d: function() {
            const ret = typeof self === 'undefined' ? undefined : self;
            return isLikeNone(ret) ? 0 : addToExternrefTable0(ret);
        },
        __wbg_static_accessor_WINDOW_b5e0810bfecb7feb: function() {
            const ret = typeof window === 'undefined' ? undefined : window;
            return isLikeNone(ret) ? 0 : addToExternrefTable0(ret);
        },
        __wbg_subarray_58f388a9247ac0bb: function(arg0, arg1, arg2) {
            const ret = arg0.subarray(arg1 >>> 0, arg2 >>> 0);
            return ret;
        },
        __wbg_versions_6e128a981b0df859: function(arg0) {
            const ret = arg0.versions;
            return ret;
        },
        __wbindgen_generic_0000000000000001: function(arg0, arg1) {
            // Cast intrinsic for `Ref(Slice(U8)) -> NamedExternref("Uint8Array")`.
            const ret = getArrayU8FromWasm0(arg0, arg1);
            return ret;
        },
        __wbindgen_generic_0000000000000002: function(arg0, arg1) {
            // Cast intrinsic for `Ref(String) -> Externref`.
            const ret = getStringFromWasm0(arg0, arg1);
            return ret;
        },
        __wbindgen_init_externref_table: function() {
            const table = wasm.__wbindgen_externrefs;
            table.set(0, undefined);
            table.set(1024, undefined);
            table.set(1025, null);
            table.set(1026, true);
            table.set(1027, false);
        },
    };
    return {
        __proto__: null,
        "./conclave_wasm_bg.js": import0,
    };
}

const CallFinalization = (typeof FinalizationRegistry === 'undefined')
    ? { register: () => {}, unregister: () => {} }
    : new FinalizationRegistry(ptr => wasm.__wbg_call_free(ptr, 1));
const FrameDecryptorFinalization = (typeof FinalizationRegistry === 'undefined')
    ? { register: () => {}, unregister: () => {} }
    : new FinalizationRegistry(ptr => wasm.__wbg_framedecryptor_free(ptr, 1));
const FrameEncryptorFinalization = (typeof FinalizationRegistry === 'undefined')
    ? { register: () => {}, unregister: () => {} }
    : new FinalizationRegistry(ptr => wasm.__wbg_frameencryptor_free(ptr, 1));
const RoomKeyFinalization = (typeof FinalizationRegistry === 'undefined')
    ? { register: () => {}, unregister: () => {} }
    : new FinalizationRegistry(ptr => wasm.__wbg_roomkey_free(ptr, 1));

function addToExternrefTable0(obj) {
    const idx = wasm.__externref_table_alloc();
    wasm.__wbindgen_externrefs.set(idx, obj);
    return idx;
}

function _assertClass(instance, klass) {
    if (!(instance instanceof klass)) {
        throw new Error(`expected instance of ${klass.name}`);
    }
}

function getArrayF64FromWasm0(ptr, len) {
    ptr = ptr >>> 0;
    return getFloat64ArrayMemory0().subarray(ptr / 8, ptr / 8 + len);
}

function getArrayJsValueFromWasm0(ptr, len) {
    ptr = ptr >>> 0;
    const mem = getDataViewMemory0();
    const result = [];
    for (let i = ptr; i < ptr + 4 * len; i += 4) {
        result.push(wasm.__wbindgen_externrefs.get(mem.getUint32(i, true)));
    }
    wasm.__externref_drop_slice(ptr, len);
    return result;
}

function getArrayU8FromWasm0(ptr, len) {
    ptr = ptr >>> 0;
    return getUint8ArrayMemory0().subarray(ptr / 1, ptr / 1 + len);
}

let cachedDataViewMemory0 = null;
function getDataViewMemory0() {
    if (cachedDataViewMemory0 === null || cachedDataViewMemory0.buffer.detached === true || (cachedDataViewMemory0.buffer.detached === undefined && cachedDataViewMemory0.buffer !== wasm.memory.buffer)) {
        cachedDataViewMemory0 = new DataView(wasm.memory.buffer);
    }
    return cachedDataViewMemory0;
}

let cachedFloat64ArrayMemory0 = null;
function getFloat64ArrayMemory0() {
    if (cachedFloat64ArrayMemory0 === null || cachedFloat64ArrayMemory0.byteLength === 0) {
        cachedFloat64ArrayMemory0 = new Float64Array(wasm.memory.buffer);
    }
    return cachedFloat64ArrayMemory0;
}

function getStringFromWasm0(ptr, len) {
    ptr = ptr >>> 0;
    return decodeText(getUint8ArrayMemory0().subarray(ptr, ptr + len));
}

let cachedUint32ArrayMemory0 = null;
function getUint32ArrayMemory0() {
    if (cachedUint32ArrayMemory0 === null || cachedUint32ArrayMemory0.byteLength === 0) {
        cachedUint32ArrayMemory0 = new Uint32Array(wasm.memory.buffer);
    }
    return cachedUint32ArrayMemory0;
}

let cachedUint8ArrayMemory0 = null;
function getUint8ArrayMemory0() {
    if (cachedUint8ArrayMemory0 === null || cachedUint8ArrayMemory0.byteLength === 0) {
        cachedUint8ArrayMemory0 = new Uint8Array(wasm.memory.buffer);
    }
    return cachedUint8ArrayMemory0;
}

function handleError(f, args) {
    try {
        return f.apply(this, args);
    } catch (e) {
        const idx = addToExternrefTable0(e);
        wasm.__wbindgen_exn_store(idx);
    }
}

function isLikeNone(x) {
    return x === undefined || x === null;
}

function passArray32ToWasm0(arg, malloc) {
    const ptr = malloc(arg.length * 4, 4) >>> 0;
    getUint32ArrayMemory0().set(arg, ptr / 4);
    WASM_VECTOR_LEN = arg.length;
    return ptr;
}

function passArray8ToWasm0(arg, malloc) {
    const ptr = malloc(arg.length * 1, 1) >>> 0;
    getUint8ArrayMemory0().set(arg, ptr / 1);
    WASM_VECTOR_LEN = arg.length;
    return ptr;
}

function passArrayJsValueToWasm0(array, malloc) {
    const ptr = malloc(array.length * 4, 4) >>> 0;
    for (let i = 0; i < array.length; i++) {
        const add = addToExternrefTable0(array[i]);
        getDataViewMemory0().setUint32(ptr + 4 * i, add, true);
    }
    WASM_VECTOR_LEN = array.length;
    return ptr;
}

function passStringToWasm0(arg, malloc, realloc) {
    if (realloc === undefined) {
        const buf = cachedTextEncoder.encode(arg);
        const ptr = malloc(buf.length, 1) >>> 0;
        getUint8ArrayMemory0().subarray(ptr, ptr + buf.length).set(buf);
        WASM_VECTOR_LEN = buf.length;
        return ptr;
    }

    let len = arg.length;
    let ptr = malloc(len, 1) >>> 0;

    const mem = getUint8ArrayMemory0();

    let offset = 0;

    for (; offset < len; offset++) {
        const code = arg.charCodeAt(offset);
        if (code > 0x7F) break;
        mem[ptr + offset] = code;
    }
    if (offset !== len) {
        if (offset !== 0) {
            arg = arg.slice(offset);
        }
        ptr = realloc(ptr, len, len = offset + arg.length * 3, 1) >>> 0;
        const view = getUint8ArrayMemory0().subarray(ptr + offset, ptr + len);
        const ret = cachedTextEncoder.encodeInto(arg, view);

        offset += ret.written;
        ptr = realloc(ptr, len, offset, 1) >>> 0;
    }

    WASM_VECTOR_LEN = offset;
    return ptr;
}

function takeFromExternrefTable0(idx) {
    const value = wasm.__wbindgen_externrefs.get(idx);
    wasm.__externref_table_dealloc(idx);
    return value;
}

let cachedTextDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
cachedTextDecoder.decode();
const MAX_SAFARI_DECODE_BYTES = 2146435072;
let numBytesDecoded = 0;
function decodeText(bytes) {
    numBytesDecoded += bytes.length;
    if (numBytesDecoded >= MAX_SAFARI_DECODE_BYTES) {
        cachedTextDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
        cachedTextDecoder.decode();
        numBytesDecoded = bytes.length;
    }
    return cachedTextDecoder.decode(bytes);
}

const cachedTextEncoder = new TextEncoder();

if (!('encodeInto' in cachedTextEncoder)) {
    cachedTextEncoder.encodeInto = function (arg, view) {
        const buf = cachedTextEncoder.encode(arg);
        view.set(buf);
        return {
            read: arg.length,
            written: buf.length
        };
    };
}

let WASM_VECTOR_LEN = 0;

let wasmModule, wasmInstance, wasm;
function __wbg_finalize_init(instance, module) {
    wasmInstance = instance;
    wasm = instance.exports;
    wasmModule = module;
    cachedDataViewMemory0 = null;
    cachedFloat64ArrayMemory0 = null;
    cachedUint32ArrayMemory0 = null;
    cachedUint8ArrayMemory0 = null;
    wasm.__wbindgen_start();
    return wasm;
}

async function __wbg_load(module, imports) {
    if (typeof Response === 'function' && module instanceof Response) {
        if (!module.ok) {
            throw new Error(`failed to fetch Wasm: ${module.status} ${module.statusText} fetching '${module.url}'`);
        }

        if (typeof WebAssembly.instantiateStreaming === 'function') {
            try {
                return await WebAssembly.instantiateStreaming(module, imports);
            } catch (e) {
                const validResponse = expectedResponseType(module.type);

                if (validResponse && module.headers.get('Content-Type') !== 'application/wasm') {
                    console.warn("`WebAssembly.instantiateStreaming` failed because your server does not serve Wasm with `application/wasm` MIME type. Falling back to `WebAssembly.instantiate` which is slower. Original error:\n", e);

                } else { throw e; }
            }
        }

        const bytes = await module.arrayBuffer();
        return await WebAssembly.instantiate(bytes, imports);
    } else {
        const instance = await WebAssembly.instantiate(module, imports);

        if (instance instanceof WebAssembly.Instance) {
            return { instance, module };
        } else {
            return instance;
        }
    }

    function expectedResponseType(type) {
        switch (type) {
            case 'basic': case 'cors': case 'default': return true;
        }
        return false;
    }
}

function initSync(module) {
    if (wasm !== undefined) return wasm;


    if (module !== undefined) {
        if (Object.getPrototypeOf(module) === Object.prototype) {
            ({module} = module)
        } else {
            console.warn('using deprecated parameters for `initSync()`; pass a single object instead')
        }
    }

    const imports = __wbg_get_imports();
    if (!(module instanceof WebAssembly.Module)) {
        module = new WebAssembly.Module(module);
    }
    const instance = new WebAssembly.Instance(module, imports);
    return __wbg_finalize_init(instance, module);
}

let __wbg_init_promise;
async function __wbg_init(module_or_path) {
    if (wasm !== undefined) return wasm;
    if (__wbg_init_promise === undefined) {
        __wbg_init_promise = __wbg_init_once(module_or_path);
        __wbg_init_promise.catch(() => { __wbg_init_promise = undefined; });
    }
    return __wbg_init_promise;
}

async function __wbg_init_once(module_or_path) {

    if (module_or_path !== undefined) {
        if (Object.getPrototypeOf(module_or_path) === Object.prototype) {
            ({module_or_path} = module_or_path)
        } else {
            console.warn('using deprecated parameters for the initialization function; pass a single object instead')
        }
    }

    if (module_or_path === undefined) {
        module_or_path = new URL('conclave_wasm_bg.wasm', import.meta.url);
    }
    const imports = __wbg_get_imports();

    if (typeof module_or_path === 'string' || (typeof Request === 'function' && module_or_path instanceof Request) || (typeof URL === 'function' && module_or_path instanceof URL)) {
        module_or_path = fetch(module_or_path);
    }

    const { instance, module } = await __wbg_load(await module_or_path, imports);

    return __wbg_finalize_init(instance, module);
}

export { initSync, __wbg_init as default };
