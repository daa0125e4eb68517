//! What the network benchmarks share.

/// CPU time used by this process so far (all threads, user and system), from /proc (Linux;
/// 10 ms resolution; 0 elsewhere). A benchmark process runs nothing but the measured nodes, so
/// the CPU time of a run is what the run cost, whatever else the host was doing.
pub(crate) fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command name (in parentheses), utime and stime are the 12th and 13th fields,
    // in clock ticks of 1/100 s.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.))
        .collect();
    (f.get(11).unwrap_or(&0.) + f.get(12).unwrap_or(&0.)) / 100.
}
