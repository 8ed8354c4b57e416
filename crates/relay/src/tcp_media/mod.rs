//! ICE-TCP media on the HTTPS port, for networks that let only TCP through
//! (often only port 443). The relay offers a passive TCP candidate with the
//! HTTPS port's address beside its UDP one (RFC 6544); a browser that cannot
//! reach UDP connects there and sends its packets (STUN, DTLS, SRTP) as
//! RFC 4571 frames. The accept loop tells such a connection from TLS by its
//! first byte ([`conclave_proto::ice_tcp::classify`]) and hands it to [`conn::serve`], which
//! feeds the frames to the media shard that serves the peer and writes what
//! that shard sends back. To the relay core ([`crate::sfu`]) a TCP peer is
//! the same as a UDP one, with [`crate::sfu::Via::Tcp`] beside its address.
//!
//! What an ICE-TCP connection can do before it is a peer's: send one STUN
//! binding request within [`conn::CLAIM_TIMEOUT`] that a peer's ICE
//! credentials accept, or be closed. Frames are at most
//! [`conclave_proto::ice_tcp::MAX_FRAME`] bytes; at most [`conn::MAX_LINKS`] connections
//! are open at once; a slow reader loses packets (as on UDP), it never
//! makes the relay buffer more than [`conn::OUT_QUEUE`] frames for it.

pub mod conn;
