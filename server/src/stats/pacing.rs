//! How often the node can afford to push a snapshot: the adaptive interval
//! the coalescer refills its bucket at.
//!
//! A push costs about (open streams × CPU per frame delivered). The pacer
//! measures the CPU per frame from the process's own CPU time and the frames
//! delivered since its last look (so it also counts the webhooks and
//! snapshots of that time: under load it errs towards pushing less), smooths
//! it, and spaces pushes so that fan-out takes at most `budget` of a core:
//!
//! ```text
//! interval = clamp(streams × cpu_per_frame / budget, floor, ceiling)
//! ```
//!
//! A hundred dashboards get nearly every change at once (the floor); ten
//! thousand get coalesced snapshots at the ceiling
//! (`STATS_NOTIFY_MIN_INTERVAL_MS`) instead of overloading the node.

use std::time::Duration;

/// The shortest interval between pushes, however cheap they are.
pub const FLOOR: Duration = Duration::from_millis(5);
/// Weight of the newest measurement in the smoothed CPU per frame.
const SMOOTHING: f64 = 0.3;
/// Frames that must have been delivered since the last look before a new
/// CPU-per-frame measurement is taken (fewer say little).
const MIN_FRAMES: u64 = 50;

/// Adapts the push interval to the measured cost of a push.
#[derive(Clone, Debug)]
pub struct Pacer {
    /// Share of one core the fan-out may take (0.5: half a core).
    budget: f64,
    ceiling: Duration,
    /// Smoothed CPU seconds per frame delivered; `None` until measured.
    cpu_per_frame: Option<f64>,
    /// Process CPU time and frames delivered at the last measurement.
    last: Option<(Duration, u64)>,
}

impl Pacer {
    /// A pacer that keeps fan-out within `budget` of a core, pushing at
    /// most every [`FLOOR`] and at least every `ceiling` when changes come.
    pub fn new(budget: f64, ceiling: Duration) -> Self {
        Pacer {
            budget: budget.max(0.01),
            ceiling: ceiling.max(FLOOR),
            cpu_per_frame: None,
            last: None,
        }
    }

    /// The interval for the next push, given the open `streams`, the
    /// process's CPU time `cpu` so far and the `frames` delivered so far.
    /// Before the first measurement it is the ceiling (the throttle as it
    /// was before pacing).
    pub fn interval(&mut self, streams: usize, cpu: Duration, frames: u64) -> Duration {
        match self.last {
            Some((last_cpu, last_frames)) if frames >= last_frames + MIN_FRAMES => {
                let sample =
                    cpu.saturating_sub(last_cpu).as_secs_f64() / (frames - last_frames) as f64;
                self.cpu_per_frame = Some(match self.cpu_per_frame {
                    Some(smoothed) => smoothed + SMOOTHING * (sample - smoothed),
                    None => sample,
                });
                self.last = Some((cpu, frames));
            }
            Some(_) => {}
            None => self.last = Some((cpu, frames)),
        }
        let Some(cpu_per_frame) = self.cpu_per_frame else {
            return self.ceiling;
        };
        let seconds = streams as f64 * cpu_per_frame / self.budget;
        Duration::try_from_secs_f64(seconds)
            .unwrap_or(self.ceiling)
            .clamp(FLOOR, self.ceiling)
    }
}

/// CPU time this process has used (all threads).
pub fn process_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes only the struct passed.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    if status != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CEILING: Duration = Duration::from_millis(100);

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn until_measured_the_interval_is_the_ceiling() {
        let mut pacer = Pacer::new(0.5, CEILING);
        assert_eq!(pacer.interval(1_000, ms(0), 0), CEILING);
        assert_eq!(pacer.interval(1_000, ms(5), 10), CEILING, "too few frames");
    }

    #[test]
    fn few_streams_get_the_floor_and_many_the_ceiling() {
        let mut pacer = Pacer::new(0.5, CEILING);
        pacer.interval(0, ms(0), 0);
        // 20 µs per frame: 1,000 frames took 20 ms of CPU.
        assert_eq!(
            pacer.interval(100, ms(20), 1_000),
            FLOOR,
            "100 × 20 µs / 0.5 = 4 ms"
        );
        let mut pacer = Pacer::new(0.5, CEILING);
        pacer.interval(0, ms(0), 0);
        assert_eq!(
            pacer.interval(1_000, ms(20), 1_000),
            ms(40),
            "1,000 × 20 µs / 0.5"
        );
        assert_eq!(
            pacer.interval(10_000, ms(20), 1_000),
            CEILING,
            "200 ms, capped"
        );
    }

    #[test]
    fn the_cost_per_frame_is_smoothed_and_a_bigger_budget_pushes_sooner() {
        let mut pacer = Pacer::new(0.5, Duration::from_secs(1));
        pacer.interval(0, ms(0), 0);
        pacer.interval(1_000, ms(20), 1_000);
        // The next 1,000 frames cost 40 µs each: the estimate moves 30 % of the way.
        let next = pacer.interval(1_000, ms(60), 2_000);
        assert_eq!(next, Duration::from_secs_f64(1_000.0 * 26e-6 / 0.5));
        let mut generous = Pacer::new(2.0, CEILING);
        generous.interval(0, ms(0), 0);
        assert_eq!(generous.interval(1_000, ms(20), 1_000), ms(10));
    }
}
