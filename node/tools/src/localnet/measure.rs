//! The measured window of a `localnet` run (from the end of the warm-up to the stop) and the
//! benchmark figures over it: finalized blocks/s, payload MB/s, finality latency p50/p99, CPU
//! per finalized block, max RSS per node. CPU and RSS come from `/proc` (Linux); where it is
//! unavailable those figures are `None` (printed as `-`).

use std::fmt;

use zksync_concurrency::time;

use super::probe::quantile;

/// A cumulative Prometheus histogram: (upper bound in seconds, cumulative count).
type Histogram = Vec<(f64, u64)>;

/// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`; 100 if that fails, which is
/// `USER_HZ` on every common Linux platform).
pub(super) fn clock_ticks_per_sec() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// utime + stime (in clock ticks) from the text of `/proc/<pid>/stat`. The command name (field
/// 2) is in parentheses and may itself contain spaces and parentheses, so the fields are
/// counted from its last `)`.
pub(super) fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: field 3 (state) is index 0, so utime (14) is index 11, stime (15) is 12.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// VmHWM (peak resident set size) in MiB from the text of `/proc/<pid>/status`.
pub(super) fn parse_vm_hwm_mib(status: &str) -> Option<f64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib as f64 / 1024.)
}

/// CPU seconds (user + system, all threads) process `pid` has used so far.
pub(super) fn cpu_secs(pid: u32, ticks_per_sec: u64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(parse_stat_cpu_ticks(&stat)? as f64 / ticks_per_sec as f64)
}

/// Peak resident set size of process `pid`, in MiB.
pub(super) fn max_rss_mib(pid: u32) -> Option<f64> {
    parse_vm_hwm_mib(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// The counts of a cumulative histogram over a window: `end - start` bucket by bucket. `None`
/// if either is missing (the node did not answer), the bucket bounds differ, or a count went
/// down (the node restarted).
pub(super) fn histogram_delta(start: &[(f64, u64)], end: &[(f64, u64)]) -> Option<Histogram> {
    if start.is_empty() || start.len() != end.len() {
        return None;
    }
    start
        .iter()
        .zip(end)
        .map(|(&(le0, c0), &(le1, c1))| (le0 == le1 && c1 >= c0).then(|| (le1, c1 - c0)))
        .collect()
}

/// The bucket-wise sum of histograms with the same bounds (others are skipped).
pub(super) fn merge_histograms(hs: impl IntoIterator<Item = Histogram>) -> Histogram {
    let mut merged: Histogram = vec![];
    for h in hs {
        if merged.is_empty() {
            merged = h;
        } else if merged.len() == h.len() && merged.iter().zip(&h).all(|(a, b)| a.0 == b.0) {
            for (m, b) in merged.iter_mut().zip(&h) {
                m.1 += b.1;
            }
        }
    }
    merged
}

/// One observation of the testnet (taken when node 0 reported its height).
#[derive(Debug, Clone, Default)]
pub(super) struct Sample {
    /// Time since the run started.
    pub(super) t: time::Duration,
    /// Node 0's last block.
    pub(super) height: u64,
    /// Per node: finality latency histogram (empty for full nodes and nodes that did not answer).
    pub(super) latency: Vec<Histogram>,
    /// Per node: CPU seconds used so far (`None`: unknown).
    pub(super) cpu: Vec<Option<f64>>,
}

/// The measured window: it starts at the first sample at least `warmup` after the first
/// sample, and ends at the latest sample.
#[derive(Debug)]
pub(super) struct Window {
    warmup: time::Duration,
    duration: Option<time::Duration>,
    first: Option<time::Duration>,
    start: Option<Sample>,
    end: Option<Sample>,
}

impl Window {
    /// A window after `warmup`, lasting `duration` (`None`: until the run stops).
    pub(super) fn new(warmup: time::Duration, duration: Option<time::Duration>) -> Self {
        Self {
            warmup,
            duration,
            first: None,
            start: None,
            end: None,
        }
    }

    /// Records a sample; true once the window has lasted `duration` (time to stop).
    pub(super) fn observe(&mut self, s: Sample) -> bool {
        let first = *self.first.get_or_insert(s.t);
        if self.start.is_none() && s.t.saturating_sub(first) >= self.warmup {
            self.start = Some(s.clone());
        }
        let Some(start) = &self.start else {
            return false;
        };
        let done = self
            .duration
            .is_some_and(|d| s.t.saturating_sub(start.t) >= d);
        self.end = Some(s);
        done
    }

    /// The figures over the window. `is_validator` and `max_rss_mib` are per node.
    pub(super) fn measurement(
        &self,
        is_validator: &[bool],
        payload_size: usize,
        max_rss_mib: Vec<Option<f64>>,
    ) -> Measurement {
        let validators = is_validator.iter().filter(|v| **v).count();
        let mut m = Measurement {
            validators,
            full_nodes: is_validator.len() - validators,
            payload_size,
            warmup_secs: self.warmup.as_secs_f64(),
            max_rss_mib,
            ..Measurement::default()
        };
        let (Some(start), Some(end)) = (&self.start, &self.end) else {
            return m;
        };
        let secs = end.t.saturating_sub(start.t).as_secs_f64();
        let blocks = end.height.saturating_sub(start.height);
        m.secs = Some(secs);
        m.heights = Some((start.height, end.height));
        m.blocks = Some(blocks);
        let per_sec = |x: f64| (secs > 0.).then(|| x / secs);
        let per_block = |x: f64| (blocks > 0).then(|| x / blocks as f64);
        m.blocks_per_sec = per_sec(blocks as f64);
        m.payload_mb_per_sec = per_sec(blocks as f64 * payload_size as f64 / 1e6);
        let latency = merge_histograms(
            start
                .latency
                .iter()
                .zip(&end.latency)
                .filter_map(|(a, b)| histogram_delta(a, b)),
        );
        m.latency_samples = latency.last().map(|b| b.1);
        m.latency_p50_ms = quantile(&latency, 0.5).map(|s| s * 1000.);
        m.latency_p99_ms = quantile(&latency, 0.99).map(|s| s * 1000.);
        // CPU over the window, summed over the selected nodes; `None` if any is unknown.
        let cpu = |only_validators: bool| -> Option<f64> {
            let mut sum = 0.;
            for (i, v) in is_validator.iter().enumerate() {
                if *v || !only_validators {
                    let (a, b) = (start.cpu.get(i).copied()??, end.cpu.get(i).copied()??);
                    sum += (b - a).max(0.);
                }
            }
            Some(sum)
        };
        m.cpu_secs_per_block_per_validator = cpu(true)
            .and_then(per_block)
            .filter(|_| validators > 0)
            .map(|c| c / validators as f64);
        m.cpu_secs_per_block_all_nodes = cpu(false).and_then(per_block);
        m.cores_used = cpu(false).and_then(per_sec);
        m
    }
}

/// The benchmark figures over the measured window (`None` where unknown: no window, no blocks,
/// or no `/proc`).
#[derive(Debug, Clone, Default)]
pub struct Measurement {
    /// Number of validators.
    pub validators: usize,
    /// Number of full nodes.
    pub full_nodes: usize,
    /// Size of the proposed payloads, in bytes.
    pub payload_size: usize,
    /// The warm-up before the window, in seconds (counted from node 0's first reported block).
    pub warmup_secs: f64,
    /// Length of the window, in seconds (`None`: the run stopped during the warm-up).
    pub secs: Option<f64>,
    /// Node 0's height at the start and at the end of the window.
    pub heights: Option<(u64, u64)>,
    /// Blocks node 0 finalized in the window.
    pub blocks: Option<u64>,
    /// Finalized blocks per second (node 0).
    pub blocks_per_sec: Option<f64>,
    /// Payload finalized per second, in MB (10^6 bytes): blocks × payload size / seconds.
    pub payload_mb_per_sec: Option<f64>,
    /// Finality latency (a validator entering a view -> it finalizing the view's block), over
    /// the window and all validators: median, in milliseconds.
    pub latency_p50_ms: Option<f64>,
    /// Finality latency, 99th percentile, in milliseconds.
    pub latency_p99_ms: Option<f64>,
    /// Number of latency observations in the window (all validators).
    pub latency_samples: Option<u64>,
    /// CPU seconds (user + system) of all validators / blocks / validators.
    pub cpu_secs_per_block_per_validator: Option<f64>,
    /// CPU seconds of all nodes / blocks.
    pub cpu_secs_per_block_all_nodes: Option<f64>,
    /// CPU seconds of all nodes / seconds: the average number of cores in use.
    pub cores_used: Option<f64>,
    /// Per node: peak resident set size (VmHWM) just before stopping, in MiB.
    pub max_rss_mib: Vec<Option<f64>>,
}

/// (min, median, max) of the known values.
fn min_median_max(values: &[Option<f64>]) -> Option<(f64, f64, f64)> {
    let mut v: Vec<f64> = values.iter().flatten().copied().collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = match n {
        0 => return None,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.,
    };
    Some((v[0], median, v[n - 1]))
}

impl Measurement {
    /// (min, median, max) of the per-node max RSS, in MiB.
    pub fn max_rss_summary(&self) -> Option<(f64, f64, f64)> {
        min_median_max(&self.max_rss_mib)
    }

    /// The figures as one JSON object (unknown figures are `null`).
    pub fn to_json(&self) -> serde_json::Value {
        let rss = self.max_rss_summary();
        serde_json::json!({
            "validators": self.validators,
            "full_nodes": self.full_nodes,
            "payload_size_bytes": self.payload_size,
            "warmup_secs": self.warmup_secs,
            "window_secs": self.secs,
            "start_height": self.heights.map(|h| h.0),
            "end_height": self.heights.map(|h| h.1),
            "blocks": self.blocks,
            "blocks_per_sec": self.blocks_per_sec,
            "payload_mb_per_sec": self.payload_mb_per_sec,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p99_ms": self.latency_p99_ms,
            "latency_samples": self.latency_samples,
            "cpu_secs_per_block_per_validator": self.cpu_secs_per_block_per_validator,
            "cpu_secs_per_block_all_nodes": self.cpu_secs_per_block_all_nodes,
            "cores_used": self.cores_used,
            "max_rss_mib": self.max_rss_mib,
            "max_rss_mib_min": rss.map(|r| r.0),
            "max_rss_mib_median": rss.map(|r| r.1),
            "max_rss_mib_max": rss.map(|r| r.2),
        })
    }
}

/// `v` with `prec` decimals, or `-`.
fn f(v: Option<f64>, prec: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.prec$}"))
}

/// Several lines, starting with `measured:`.
impl fmt::Display for Measurement {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(secs) = self.secs else {
            return write!(
                out,
                "measured: nothing (stopped before the end of the {} s warm-up)",
                self.warmup_secs
            );
        };
        let (h0, h1) = self.heights.unwrap_or_default();
        writeln!(
            out,
            "measured: {secs:.1} s after a {} s warm-up; node0 blocks {h0}..{h1}; {} validators, {} full nodes, payload {} B",
            self.warmup_secs, self.validators, self.full_nodes, self.payload_size
        )?;
        writeln!(
            out,
            "  finalized: {} blocks/s, {} MB/s of payload (MB = 10^6 B)",
            f(self.blocks_per_sec, 2),
            f(self.payload_mb_per_sec, 3)
        )?;
        writeln!(
            out,
            "  finality latency (view start -> finalized, all validators): p50 {} ms, p99 {} ms ({} samples)",
            f(self.latency_p50_ms, 1),
            f(self.latency_p99_ms, 1),
            self.latency_samples.map_or("-".into(), |n| n.to_string())
        )?;
        let ms = |v: Option<f64>| f(v.map(|s| s * 1000.), 2);
        writeln!(
            out,
            "  CPU per finalized block: {} ms per validator, {} ms all nodes; {} cores used on average",
            ms(self.cpu_secs_per_block_per_validator),
            ms(self.cpu_secs_per_block_all_nodes),
            f(self.cores_used, 2)
        )?;
        let rss = self.max_rss_summary();
        write!(
            out,
            "  max RSS per node (VmHWM): min {} MiB, median {} MiB, max {} MiB",
            f(rss.map(|r| r.0), 1),
            f(rss.map(|r| r.1), 1),
            f(rss.map(|r| r.2), 1)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_with_spaces_and_parens_in_the_name() {
        // utime 1234, stime 567 (fields 14 and 15); the name looks like it has more fields.
        let stat = "4242 (a (weird) ) name) S 1 4242 4242 0 -1 4194304 100 0 0 0 1234 567 7 8 20 0 9 0 175851 3133440 359 18446744073709551615 0\n";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(1234 + 567));
        assert_eq!(
            parse_stat_cpu_ticks("1 (x) S 1 1 1 0 -1 0 0 0 0 0 5 6 0 0"),
            Some(11)
        );
        assert_eq!(parse_stat_cpu_ticks("1 (x) S 1 1"), None);
        assert_eq!(parse_stat_cpu_ticks("no parens"), None);
    }

    #[test]
    fn proc_status_vm_hwm() {
        let status = "Name:\tnode\nVmPeak:\t  999 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_vm_hwm_mib(status), Some(2.));
        assert_eq!(parse_vm_hwm_mib("Name:\tzombie\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn proc_of_this_process() {
        let pid = std::process::id();
        assert!(cpu_secs(pid, clock_ticks_per_sec()).is_some_and(|c| c >= 0.));
        assert!(max_rss_mib(pid).is_some_and(|m| m > 0.));
    }

    fn hist(counts: &[u64]) -> Histogram {
        let mut h: Histogram = counts
            .iter()
            .enumerate()
            .map(|(i, &c)| (0.001 * f64::from(1u32 << i), c))
            .collect();
        h.last_mut().unwrap().0 = f64::INFINITY;
        h
    }

    #[test]
    fn histogram_window_quantiles() {
        // Before the window: 100 fast observations (<= 1 ms); in it: 100 of 2..4 ms.
        let start = hist(&[100, 100, 100, 100]);
        let end = hist(&[100, 100, 200, 200]);
        let d = histogram_delta(&start, &end).unwrap();
        assert_eq!(d, hist(&[0, 0, 100, 100]));
        let p50 = quantile(&d, 0.5).unwrap();
        assert!((p50 - 0.003).abs() < 1e-9, "{p50}");
        let p99 = quantile(&d, 0.99).unwrap();
        assert!(p99 > 0.0039 && p99 <= 0.004, "{p99}");
        // Over the whole run the median would be in the first bucket.
        assert!(quantile(&end, 0.5).unwrap() <= 0.001);
        // Missing, mismatched or decreasing histograms give no delta.
        assert_eq!(histogram_delta(&[], &end), None);
        assert_eq!(histogram_delta(&start, &hist(&[100, 100, 100])), None);
        assert_eq!(histogram_delta(&end, &start), None);
        // Merging sums bucket-wise and skips other bounds.
        let m = merge_histograms([d.clone(), d, hist(&[1, 2])]);
        assert_eq!(m, hist(&[0, 0, 200, 200]));
    }

    fn sample(t_ms: u64, height: u64, cpu: &[f64], latency: &[u64]) -> Sample {
        Sample {
            t: time::Duration::from_millis(t_ms),
            height,
            latency: cpu.iter().map(|_| hist(latency)).collect(),
            cpu: cpu.iter().map(|c| Some(*c)).collect(),
        }
    }

    #[test]
    fn window_after_warmup() {
        let s = time::Duration::from_secs;
        let mut w = Window::new(s(10), Some(s(60)));
        // Warm-up from the first sample (t = 1 s) until t = 11 s.
        assert!(!w.observe(sample(1_000, 5, &[0., 0.], &[0, 0, 0])));
        assert!(!w.observe(sample(10_900, 100, &[5., 5.], &[50, 90, 90])));
        assert!(w.start.is_none());
        assert!(!w.observe(sample(11_000, 110, &[6., 6.], &[50, 90, 90])));
        assert_eq!(w.start.as_ref().unwrap().height, 110);
        assert!(!w.observe(sample(70_999, 700, &[30., 40.], &[50, 190, 190])));
        // 60 s after the window started: stop.
        assert!(w.observe(sample(71_000, 710, &[36., 46.], &[50, 190, 190])));
        let m = w.measurement(&[true, false], 1_000_000, vec![Some(3.), None]);
        assert_eq!(m.secs, Some(60.));
        assert_eq!(m.heights, Some((110, 710)));
        assert_eq!(m.blocks, Some(600));
        assert_eq!(m.blocks_per_sec, Some(10.));
        assert_eq!(m.payload_mb_per_sec, Some(10.));
        // Both nodes report latency here (the test gives each node a histogram).
        assert_eq!(m.latency_samples, Some(200));
        let p50 = m.latency_p50_ms.unwrap();
        assert!(p50 > 1. && p50 <= 2., "{p50}");
        // Validator node0 used 30 CPU s; both nodes 70 CPU s over 600 blocks and 60 s.
        assert_eq!(m.cpu_secs_per_block_per_validator, Some(30. / 600.));
        assert_eq!(m.cpu_secs_per_block_all_nodes, Some(70. / 600.));
        assert!((m.cores_used.unwrap() - 70. / 60.).abs() < 1e-9);
        assert_eq!(m.max_rss_summary(), Some((3., 3., 3.)));
        let j = m.to_json();
        assert_eq!(j["blocks"], 600);
        assert_eq!(j["max_rss_mib"][1], serde_json::Value::Null);
        assert!(m.to_string().starts_with("measured: 60.0 s"));
    }

    #[test]
    fn window_without_warmup_duration_or_proc() {
        let mut w = Window::new(time::Duration::ZERO, None);
        let mut first = sample(500, 3, &[1.], &[1, 1]);
        first.cpu = vec![None];
        assert!(!w.observe(first));
        assert_eq!(w.start.as_ref().unwrap().height, 3);
        assert!(!w.observe(sample(2_500, 13, &[2.], &[1, 11])));
        let m = w.measurement(&[true], 0, vec![None]);
        assert_eq!(m.blocks_per_sec, Some(5.));
        assert_eq!(m.payload_mb_per_sec, Some(0.));
        assert_eq!(m.cpu_secs_per_block_per_validator, None);
        assert_eq!(m.cores_used, None);
        assert_eq!(m.max_rss_summary(), None);
        assert!(m.to_string().contains("min - MiB"), "{m}");
        // Stopped during the warm-up: no window, no figures.
        let mut w = Window::new(time::Duration::from_secs(10), None);
        w.observe(sample(0, 1, &[0.], &[0, 0]));
        let m = w.measurement(&[true], 0, vec![]);
        assert_eq!(m.secs, None);
        assert!(m.to_string().contains("warm-up"), "{m}");
        assert_eq!(
            min_median_max(&[Some(4.), Some(1.), None, Some(2.), Some(3.)]),
            Some((1., 2.5, 4.))
        );
    }
}
