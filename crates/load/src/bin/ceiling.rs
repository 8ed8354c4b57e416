//! `ceiling`: the cheapest forwarder this machine can run, as the floor under
//! every SFU's cost in bench/run.sh (issue 5). It receives RTP-shaped UDP
//! datagrams from `conclave-load run --target udp[-gcm]` and sends each to
//! every registered sink (a sink registers by sending `HELO`), rewriting the
//! SSRC per copy as an SFU must. I/O is batched: `recvmmsg` in, `sendmmsg`
//! out, and with `--gso` consecutive equal-size copies to one sink go out as
//! one UDP GSO send. With `--gcm` every copy is AES-128-GCM sealed with the
//! sink's own key (the part of SRTP that costs), else the payload is sent from
//! the receive buffer without a copy.
//!
//! IPv4 only; a benchmark tool, not a relay: no authentication of any kind.
//!
//! ```text
//! ceiling --listen 127.0.1.1:0 [--gcm] [--gso]
//! ```

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::mem::{size_of, zeroed};
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;

#[derive(Parser)]
#[command(about = "Minimal UDP fan-out forwarder: the cost floor for the SFU benchmark")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Seal every copy with AES-128-GCM (per-sink key).
    #[arg(long)]
    gcm: bool,
    /// Use UDP GSO for runs of equal-size copies to one sink.
    #[arg(long)]
    gso: bool,
    /// Datagrams per recvmmsg.
    #[arg(long, default_value_t = 64)]
    batch: usize,
}

const MAXP: usize = 1500;
const TAG: usize = 16;
const MAX_SEGS: usize = 64;

struct Sink {
    addr: libc::sockaddr_in,
    ssrc: [u8; 4],
    key: Option<aws_lc_rs::aead::LessSafeKey>,
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
    let mut s: libc::sockaddr_in = unsafe { zeroed() };
    s.sin_family = libc::AF_INET as libc::sa_family_t;
    s.sin_port = a.port().to_be();
    s.sin_addr.s_addr = u32::from(*a.ip()).to_be();
    s
}

fn main() -> Result<()> {
    let a = Args::parse();
    let sock = UdpSocket::bind(a.listen).context("bind")?;
    conclave_load::engine::set_bufs(&sock, 8 << 20);
    println!("open: udp://{}/", sock.local_addr()?);
    let fd = sock.as_raw_fd();
    let b = a.batch.clamp(1, 1024);
    let mut gso = a.gso;

    let mut rbuf = vec![0u8; b * MAXP];
    // SAFETY (all zeroed() below): libc structs of plain data; zero is valid.
    let mut raddrs: Vec<libc::sockaddr_in> = vec![unsafe { zeroed() }; b];
    let mut riov: Vec<libc::iovec> = Vec::with_capacity(b);
    for i in 0..b {
        riov.push(libc::iovec {
            iov_base: rbuf[i * MAXP..].as_mut_ptr().cast(),
            iov_len: MAXP,
        });
    }
    let mut rmsgs: Vec<libc::mmsghdr> = vec![unsafe { zeroed() }; b];
    for i in 0..b {
        let h = &mut rmsgs[i].msg_hdr;
        h.msg_name = (&mut raddrs[i] as *mut libc::sockaddr_in).cast();
        h.msg_namelen = size_of::<libc::sockaddr_in>() as u32;
        h.msg_iov = &mut riov[i];
        h.msg_iovlen = 1;
    }

    let mut sinks: Vec<Sink> = Vec::new();
    let mut out: Vec<u8> = Vec::new(); // per (sink, packet): header [+ sealed payload + tag]
    let mut iovs: Vec<libc::iovec> = Vec::new();
    let mut msgs: Vec<libc::mmsghdr> = Vec::new();
    let mut runs: Vec<(usize, usize, usize, Option<u16>)> = Vec::new(); // sink, iov start, iov count, segment
    let cspace = unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) } as usize;
    let mut cbufs: Vec<u8> = Vec::new();
    let mut pkts: Vec<(usize, usize)> = Vec::with_capacity(b); // offset, len

    loop {
        for m in rmsgs.iter_mut() {
            m.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as u32;
            m.msg_len = 0;
        }
        // SAFETY: rmsgs points at live buffers sized as declared above.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                rmsgs.as_mut_ptr(),
                b as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            bail!("recvmmsg: {e}");
        }
        pkts.clear();
        for i in 0..n as usize {
            let len = rmsgs[i].msg_len as usize;
            let d = &rbuf[i * MAXP..i * MAXP + len];
            if d == b"HELO" {
                let r = raddrs[i];
                let addr = SocketAddrV4::new(
                    u32::from_be(r.sin_addr.s_addr).into(),
                    u16::from_be(r.sin_port),
                );
                if !sinks.iter().any(|s| {
                    s.addr.sin_port == r.sin_port && s.addr.sin_addr.s_addr == r.sin_addr.s_addr
                }) {
                    let ssrc = (0x5000_0000u32 + sinks.len() as u32).to_be_bytes();
                    let key = a.gcm.then(|| conclave_load::gcm_key(addr.port()));
                    sinks.push(Sink {
                        addr: sockaddr(addr),
                        ssrc,
                        key,
                    });
                }
                continue;
            }
            if len >= 12 {
                pkts.push((i * MAXP, len));
            }
        }
        if pkts.is_empty() || sinks.is_empty() {
            continue;
        }

        // Per sink: the copies, as iovecs, grouped into GSO runs when asked.
        let per_copy = if a.gcm { MAXP + TAG } else { 12 };
        out.clear();
        out.resize(sinks.len() * pkts.len() * per_copy, 0);
        iovs.clear();
        iovs.reserve(sinks.len() * pkts.len() * 2);
        runs.clear();
        for (si, s) in sinks.iter().enumerate() {
            let mut k = 0;
            while k < pkts.len() {
                // A run: equal sizes, the last may be shorter, at most MAX_SEGS.
                let size = pkts[k].1;
                let mut end = k + 1;
                if gso {
                    while end < pkts.len() && end - k < MAX_SEGS && pkts[end].1 <= size {
                        let last = pkts[end].1 < size;
                        end += 1;
                        if last {
                            break;
                        }
                    }
                }
                let start = iovs.len();
                for (j, &(off, len)) in pkts.iter().enumerate().take(end).skip(k) {
                    let slot = (si * pkts.len() + j) * per_copy;
                    let copy = &mut out[slot..slot + per_copy];
                    copy[..12].copy_from_slice(&rbuf[off..off + 12]);
                    copy[8..12].copy_from_slice(&s.ssrc);
                    if let Some(key) = &s.key {
                        let plen = len - 12;
                        copy[12..12 + plen].copy_from_slice(&rbuf[off + 12..off + len]);
                        let (hdr, body) = copy.split_at_mut(12);
                        let nonce = conclave_load::gcm_nonce(hdr);
                        let tag = key
                            .seal_in_place_separate_tag(
                                nonce,
                                aws_lc_rs::aead::Aad::from(&*hdr),
                                &mut body[..plen],
                            )
                            .expect("seal");
                        body[plen..plen + TAG].copy_from_slice(tag.as_ref());
                        iovs.push(libc::iovec {
                            iov_base: copy.as_mut_ptr().cast(),
                            iov_len: len + TAG,
                        });
                    } else {
                        iovs.push(libc::iovec {
                            iov_base: copy.as_mut_ptr().cast(),
                            iov_len: 12,
                        });
                        iovs.push(libc::iovec {
                            iov_base: rbuf[off + 12..].as_ptr() as *mut libc::c_void,
                            iov_len: len - 12,
                        });
                    }
                }
                let seg = (end - k > 1).then_some((size + if a.gcm { TAG } else { 0 }) as u16);
                runs.push((si, start, iovs.len() - start, seg));
                k = end;
            }
        }
        cbufs.clear();
        cbufs.resize(runs.len() * cspace, 0);
        msgs.clear();
        for (ri, &(si, start, count, seg)) in runs.iter().enumerate() {
            // SAFETY: plain data.
            let mut m: libc::mmsghdr = unsafe { zeroed() };
            m.msg_hdr.msg_name = (&sinks[si].addr as *const libc::sockaddr_in) as *mut libc::c_void;
            m.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as u32;
            m.msg_hdr.msg_iov = iovs[start..].as_mut_ptr();
            m.msg_hdr.msg_iovlen = count;
            if let Some(seg) = seg {
                let c = &mut cbufs[ri * cspace..(ri + 1) * cspace];
                m.msg_hdr.msg_control = c.as_mut_ptr().cast();
                m.msg_hdr.msg_controllen = cspace;
                // SAFETY: the control buffer is CMSG_SPACE(2) bytes, owned by cbufs,
                // and holds exactly one cmsg with a u16 payload.
                unsafe {
                    let cm = libc::CMSG_FIRSTHDR(&m.msg_hdr);
                    (*cm).cmsg_level = libc::SOL_UDP;
                    (*cm).cmsg_type = libc::UDP_SEGMENT;
                    (*cm).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as usize;
                    std::ptr::write_unaligned(libc::CMSG_DATA(cm) as *mut u16, seg);
                }
            }
            msgs.push(m);
        }
        let mut sent = 0;
        while sent < msgs.len() {
            let chunk = (msgs.len() - sent).min(1024);
            // SAFETY: every mmsghdr points into iovs/out/rbuf/cbufs/sinks, alive and
            // unchanged until this loop ends.
            let r = unsafe { libc::sendmmsg(fd, msgs[sent..].as_mut_ptr(), chunk as u32, 0) };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                if gso {
                    eprintln!("ceiling: sendmmsg with GSO failed ({e}); continuing without GSO");
                    gso = false;
                } else {
                    eprintln!("ceiling: sendmmsg: {e}");
                }
                break;
            }
            sent += r as usize;
        }
    }
}
