//! Readings from /proc: a process's CPU time (all threads) and RSS, the
//! machine's CPU time and load average.

use std::fs;

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// CPU time of `pid` in seconds, all threads. Summed from each live thread's
/// /proc/PID/task/TID/schedstat (nanoseconds) when the kernel has it, else
/// utime + stime from /proc/PID/stat (clock ticks, 10 ms steps).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    sched_seconds(pid).or_else(|| stat_seconds(pid))
}

fn sched_seconds(pid: u32) -> Option<f64> {
    let mut ns: u64 = 0;
    for t in fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let s = fs::read_to_string(t.ok()?.path().join("schedstat")).ok()?;
        ns += s.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(ns as f64 / 1e9)
}

/// utime + stime of `pid` in seconds (all threads, including exited ones).
pub fn stat_seconds(pid: u32) -> Option<f64> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may contain spaces: start past ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime 15.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / clk_tck())
}

/// VmRSS of `pid` in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Busy CPU seconds of the whole machine (user + nice + system, all cores).
/// Interrupt and softirq time are left out: packet processing on loopback is
/// charged there and would be counted as "someone else".
pub fn machine_busy_seconds() -> Option<f64> {
    let s = fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().next()?;
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    Some((v.first()? + v.get(1)? + v.get(2)?) / clk_tck())
}

/// The three load averages.
pub fn loadavg() -> [f64; 3] {
    let s = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = s.split_whitespace().map(|x| x.parse().unwrap_or(0.0));
    [
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
    ]
}

/// UDP datagrams dropped because a socket's receive buffer was full, summed
/// over the sockets of this network namespace (/proc/net/udp and udp6, the
/// `drops` column): `(ours, others)`, ours being this process's sockets (the
/// load generator's peers), others everyone else's (in the benchmark
/// namespace: the relay's). Counts of sockets closed meanwhile are lost.
pub fn udp_drops() -> Option<(u64, u64)> {
    let ours = own_socket_inodes();
    let mut total = (0u64, 0u64);
    let mut any = false;
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        if let Ok(text) = fs::read_to_string(table) {
            any = true;
            for (inode, drops) in parse_udp_table(&text) {
                if ours.contains(&inode) {
                    total.0 += drops;
                } else {
                    total.1 += drops;
                }
            }
        }
    }
    any.then_some(total)
}

/// Socket inodes of this process's open file descriptors.
fn own_socket_inodes() -> std::collections::HashSet<u64> {
    let mut out = std::collections::HashSet::new();
    if let Ok(dir) = fs::read_dir("/proc/self/fd") {
        for fd in dir.flatten() {
            if let Ok(link) = fs::read_link(fd.path()) {
                let link = link.to_string_lossy();
                if let Some(n) = link
                    .strip_prefix("socket:[")
                    .and_then(|r| r.strip_suffix(']'))
                    .and_then(|n| n.parse().ok())
                {
                    out.insert(n);
                }
            }
        }
    }
    out
}

/// `(inode, drops)` of every socket in a /proc/net/udp table.
fn parse_udp_table(text: &str) -> Vec<(u64, u64)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.get(9)?.parse().ok()?, f.last()?.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn udp_drops_are_read_per_socket() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
            \x20 101: 0101007F:A1B2 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17\n\
            \x20 102: 0101007F:A1B3 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4243 2 0000000000000000 0\n";
        assert_eq!(super::parse_udp_table(table), [(4242, 17), (4243, 0)]);
    }
}
