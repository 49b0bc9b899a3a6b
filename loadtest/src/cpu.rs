//! Where the machine's CPU goes during a run, from `/proc`: the servers'
//! processes, the database's (every `postgres` process: backends, WAL
//! writer, checkpointer), the harness itself, and what was left idle. CPU
//! time is counted only while a process runs, so these figures move less
//! with the machine's speed that hour than throughput does.

use anyhow::{Context, Result};

/// CPU time used so far, and the machine's idle time.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    servers_s: f64,
    database_s: f64,
    harness_s: f64,
    /// The machine's (all cores) busy and idle time since boot.
    machine_busy_s: f64,
    machine_idle_s: f64,
}

/// CPU time per stored event between two samples, in microseconds.
#[derive(Clone, Copy, Debug)]
pub struct PerEvent {
    pub servers_us: f64,
    pub database_us: f64,
    pub harness_us: f64,
    /// Share of the machine's cores left idle, 0–100.
    pub idle_percent: f64,
}

impl std::fmt::Display for PerEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = [
            ("server", self.servers_us),
            ("database", self.database_us),
            ("harness", self.harness_us),
        ]
        .iter()
        .filter(|(_, us)| *us > 0.0)
        .map(|(who, us)| format!("{who} {us:.1} µs"))
        .collect();
        write!(
            f,
            "{} per event; machine {:.0} % idle",
            parts.join(", "),
            self.idle_percent
        )
    }
}

impl Sample {
    /// Takes a sample; `servers` are the Pulse processes measured.
    pub fn take(servers: &[u32]) -> Result<Sample> {
        let mut servers_s = 0.0;
        for pid in servers {
            servers_s += process_seconds(&pid.to_string())?;
        }
        let mut database_s = 0.0;
        for entry in std::fs::read_dir("/proc")? {
            let name = entry?.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            let is_postgres = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == "postgres");
            if is_postgres {
                // A process that ends meanwhile is simply not counted.
                database_s += process_seconds(pid).unwrap_or(0.0);
            }
        }
        let (machine_busy_s, machine_idle_s) = machine_seconds()?;
        Ok(Sample {
            servers_s,
            database_s,
            harness_s: process_seconds("self")?,
            machine_busy_s,
            machine_idle_s,
        })
    }

    /// What was used from `self` to `later`, per event of `events`.
    pub fn per_event(&self, later: &Sample, events: u64) -> PerEvent {
        let per = |seconds: f64| seconds * 1e6 / events.max(1) as f64;
        let busy = later.machine_busy_s - self.machine_busy_s;
        let idle = later.machine_idle_s - self.machine_idle_s;
        PerEvent {
            servers_us: per(later.servers_s - self.servers_s),
            database_us: per(later.database_s - self.database_s),
            harness_us: per(later.harness_s - self.harness_s),
            idle_percent: 100.0 * idle / (busy + idle).max(f64::MIN_POSITIVE),
        }
    }
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

/// CPU time (user + system) process `pid` ("self" for this one) has used.
pub fn process_seconds(pid: &str) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line, in clock ticks.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unreadable /proc/<pid>/stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| -> Result<f64> {
        fields
            .get(index)
            .and_then(|value| value.parse::<f64>().ok())
            .context("utime/stime missing from /proc/<pid>/stat")
    };
    Ok((ticks(11)? + ticks(12)?) / ticks_per_second())
}

/// The machine's busy and idle (idle + I/O wait) time since boot, all cores.
fn machine_seconds() -> Result<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let values: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|value| value.parse().ok())
        .collect();
    let total: f64 = values.iter().sum();
    let idle = values.get(3).copied().unwrap_or(0.0) + values.get(4).copied().unwrap_or(0.0);
    Ok((
        (total - idle) / ticks_per_second(),
        idle / ticks_per_second(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_harness_own_cpu_grows_while_it_works() {
        let before = Sample::take(&[]).unwrap();
        let mut x = 0u64;
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_millis(100) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let after = Sample::take(&[]).unwrap();
        let used = before.per_event(&after, 1_000_000);
        assert!(used.harness_us > 0.0, "{used}");
        assert!((0.0..=100.0).contains(&used.idle_percent), "{used}");
    }
}
