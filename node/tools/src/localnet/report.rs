//! The progress display of `localnet`: a table redrawn in place on a terminal, or a line every
//! few seconds otherwise.
#![allow(clippy::print_stdout)]

use std::fmt::Write as _;

use zksync_concurrency::{ctx, time};

use super::{
    measure::merge_histograms,
    probe::{Probe, Status, quantile},
};

/// The display and the rate measurement.
pub(super) struct Display {
    interactive: bool,
    is_validator: Vec<bool>,
    drawn_lines: usize,
    /// First and latest (time, height) seen at node 0.
    first: Option<(time::Instant, u64)>,
    last: Option<(time::Instant, u64)>,
    /// Recent samples of node 0 for the current rate.
    recent: std::collections::VecDeque<(time::Instant, u64)>,
    last_line: Option<time::Instant>,
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |s| format!("{:.1}", s * 1000.))
}

impl Display {
    pub(super) fn new(interactive: bool, probes: &[Probe]) -> Self {
        Self {
            interactive,
            is_validator: probes.iter().map(|p| p.is_validator).collect(),
            drawn_lines: 0,
            first: None,
            last: None,
            recent: Default::default(),
            last_line: None,
        }
    }

    /// (seconds, blocks/s) between the first and the latest observation of node 0.
    pub(super) fn rate(&self) -> (f64, f64) {
        match (self.first, self.last) {
            (Some((t0, h0)), Some((t1, h1))) if t1 > t0 => {
                let secs = (t1 - t0).as_secs_f64();
                (secs, (h1 - h0) as f64 / secs)
            }
            _ => (0., 0.),
        }
    }

    fn current_rate(&self) -> Option<f64> {
        let (t0, h0) = *self.recent.front()?;
        let (t1, h1) = *self.recent.back()?;
        (t1 > t0).then(|| (h1 - h0) as f64 / (t1 - t0).as_secs_f64())
    }

    pub(super) fn update(&mut self, ctx: &ctx::Ctx, statuses: &[Status]) {
        let now = ctx.now();
        if let Some(h) = statuses[0].height {
            if self.first.is_none() {
                self.first = Some((now, h));
            }
            self.last = Some((now, h));
            self.recent.push_back((now, h));
            while self
                .recent
                .front()
                .is_some_and(|(t, _)| now - *t > time::Duration::from_secs(5))
            {
                self.recent.pop_front();
            }
        }
        // Finality latency over all validators.
        let merged = merge_histograms(
            statuses
                .iter()
                .filter(|s| !s.latency.is_empty())
                .map(|s| s.latency.clone()),
        );
        let (p50, p99) = (quantile(&merged, 0.5), quantile(&merged, 0.99));
        let rate = self
            .current_rate()
            .map_or("-".into(), |r| format!("{r:.1}"));
        if !self.interactive {
            if self
                .last_line
                .is_some_and(|t| now - t < time::Duration::from_secs(5))
            {
                return;
            }
            self.last_line = Some(now);
            let heights: Vec<String> = statuses
                .iter()
                .map(|s| s.height.map_or("-".into(), |h| h.to_string()))
                .collect();
            println!(
                "heights [{}]  {rate} blocks/s  finality p50 {} ms p99 {} ms",
                heights.join(" "),
                ms(p50),
                ms(p99)
            );
            return;
        }
        let mut out = String::new();
        if self.drawn_lines > 0 {
            let _ = write!(out, "\x1b[{}A", self.drawn_lines);
        }
        let mut lines = vec![
            format!(
                "finalized: {rate} blocks/s   finality latency: p50 {} ms, p99 {} ms",
                ms(p50),
                ms(p99)
            ),
            format!(
                "{:<8} {:<10} {:>10} {:>6}",
                "node", "role", "height", "peers"
            ),
        ];
        for (i, s) in statuses.iter().enumerate() {
            lines.push(format!(
                "{:<8} {:<10} {:>10} {:>6}",
                format!("node{i}"),
                if self.is_validator[i] {
                    "validator"
                } else {
                    "full node"
                },
                s.height.map_or("-".into(), |h| h.to_string()),
                s.peers.map_or("-".into(), |p| p.to_string()),
            ));
        }
        for l in &lines {
            let _ = writeln!(out, "\x1b[2K{l}");
        }
        self.drawn_lines = lines.len();
        print!("{out}");
    }

    pub(super) fn finish(&mut self) {
        self.drawn_lines = 0;
    }
}
