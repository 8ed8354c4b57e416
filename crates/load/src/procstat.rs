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

/// UDP datagrams dropped in this network namespace because a socket's
/// receive or send buffer was full (`RcvbufErrors`, `SndbufErrors` of
/// /proc/net/snmp): the relay's and the load generator's sockets alike.
pub fn udp_buffer_drops() -> Option<(u64, u64)> {
    parse_udp_drops(&fs::read_to_string("/proc/net/snmp").ok()?)
}

fn parse_udp_drops(snmp: &str) -> Option<(u64, u64)> {
    let mut lines = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let names: Vec<&str> = lines.next()?.split_whitespace().collect();
    let values: Vec<&str> = lines.next()?.split_whitespace().collect();
    let get = |name: &str| -> Option<u64> {
        let i = names.iter().position(|n| *n == name)?;
        values.get(i)?.parse().ok()
    };
    Some((get("RcvbufErrors")?, get("SndbufErrors")?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn udp_drops_are_read_by_name() {
        let snmp = "Ip: Forwarding\nIp: 1\n\
            Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors\n\
            Udp: 329107 54 1820 267286 1820 7 0\n\
            UdpLite: InDatagrams RcvbufErrors\nUdpLite: 0 0\n";
        assert_eq!(super::parse_udp_drops(snmp), Some((1820, 7)));
        assert_eq!(super::parse_udp_drops("Ip: 1\n"), None);
    }
}
