//! Kernel receive timestamps (`SO_TIMESTAMPNS`) for the subscribers' sockets.
//!
//! One-way latency is measured to the moment a datagram reached the
//! subscriber's socket, not to the moment the load generator got round to it:
//! all N subscribers share one load-generator thread, so reading a video
//! frame's copies one after the other would otherwise add the load generator's
//! own queueing (several ms at N = 100) to every system's figures.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

/// Asks the kernel to stamp every datagram `sock` receives.
pub fn enable(sock: &impl AsRawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt on a socket the caller owns with a pointer to a live c_int.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            &on as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `CLOCK_REALTIME` minus `CLOCK_MONOTONIC`, in ns: kernel stamps are
/// wall-clock, the frames carry monotonic send times.
pub fn realtime_offset_ns() -> i128 {
    let real = clock_ns(libc::CLOCK_REALTIME);
    let mono = clock_ns(libc::CLOCK_MONOTONIC);
    real as i128 - mono as i128
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the pointer we own.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// One datagram: its length, sender and kernel arrival time
/// (`CLOCK_REALTIME` ns; `None` if the kernel attached no stamp).
pub fn recv(sock: &impl AsRawFd, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Option<u64>)> {
    // SAFETY: sockaddr_storage and msghdr are plain C structs; all-zero is valid.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    // u64 elements keep the control buffer aligned for cmsghdr.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: see above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = &mut addr as *mut libc::sockaddr_storage as *mut libc::c_void;
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: every pointer in msg refers to a live buffer of the stated size.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut stamp = None;
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled in,
    // bounded by msg_controllen.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::timespec);
                stamp = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    let source = sockaddr(&addr).ok_or_else(|| io::Error::other("datagram from no address"))?;
    Ok((n as usize, source, stamp))
}

fn sockaddr(addr: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match addr.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a = unsafe { &*(addr as *const _ as *const libc::sockaddr_in) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a = unsafe { &*(addr as *const _ as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_datagrams_carry_a_stamp_close_to_now() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        enable(&rx).expect("SO_TIMESTAMPNS");
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let before = clock_ns(libc::CLOCK_REALTIME);
        tx.send_to(b"hello", rx.local_addr().expect("addr"))
            .expect("send");
        let mut buf = [0u8; 64];
        let (n, from, stamp) = recv(&rx, &mut buf).expect("recv");
        let after = clock_ns(libc::CLOCK_REALTIME);
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(from, tx.local_addr().expect("addr"));
        let stamp = stamp.expect("a kernel timestamp");
        assert!(
            before <= stamp && stamp <= after,
            "{before} {stamp} {after}"
        );
    }
}
