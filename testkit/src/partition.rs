//! A network partition of a test's own: a server started inside a network
//! namespace of its own, reached from the test's namespace over a veth pair,
//! that the test can cut off and heal. Cut, every packet between the two is
//! dropped without a word (each side is told the other's hardware address is
//! one nobody has), so connections hang as behind a real partition instead of
//! failing fast. Creating one needs root (CI runs as root); elsewhere
//! [`Partition::create`] says why it cannot, and the test says it skipped.

use std::{
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
};

/// Partitions made by this process so far: each gets its own names and subnet.
static MADE: AtomicU32 = AtomicU32::new(0);

/// A hardware address no interface has: frames sent to it are dropped by the
/// other end of the pair.
const NOBODY: &str = "02:00:00:00:00:01";

/// A network namespace joined to ours by a veth pair; removed when dropped
/// (drop it after the servers inside it).
pub struct Partition {
    namespace: String,
    outside_link: String,
    inside_link: String,
    outside_address: String,
    inside_address: String,
}

impl Partition {
    /// Makes the namespace and the pair, addresses on both ends; the reason
    /// when this machine does not allow it.
    pub fn create() -> Result<Partition, String> {
        let made = MADE.fetch_add(1, Ordering::Relaxed);
        let process = std::process::id() % 10_000;
        let subnet = format!("10.{}.{}", 20 + process % 200, made % 250);
        let partition = Partition {
            namespace: format!("pulse-test-{process}-{made}"),
            outside_link: format!("pt{process}o{made}"),
            inside_link: format!("pt{process}i{made}"),
            outside_address: format!("{subnet}.1"),
            inside_address: format!("{subnet}.2"),
        };
        ip(&["netns", "add", &partition.namespace])
            .map_err(|error| format!("cannot make a network namespace (it needs root): {error}"))?;
        let (outside, inside, namespace) = (
            partition.outside_link.as_str(),
            partition.inside_link.as_str(),
            partition.namespace.as_str(),
        );
        let outside_cidr = format!("{}/24", partition.outside_address);
        let inside_cidr = format!("{}/24", partition.inside_address);
        ip(&[
            "link", "add", outside, "type", "veth", "peer", "name", inside,
        ])?;
        ip(&["link", "set", inside, "netns", namespace])?;
        ip(&["addr", "add", &outside_cidr, "dev", outside])?;
        ip(&["link", "set", outside, "up"])?;
        partition.inside(&["addr", "add", &inside_cidr, "dev", inside])?;
        partition.inside(&["link", "set", inside, "up"])?;
        partition.inside(&["link", "set", "lo", "up"])?;
        Ok(partition)
    }

    /// The address of the namespace's end, where its servers listen.
    pub fn address(&self) -> &str {
        &self.inside_address
    }

    /// The address the namespace sees the test's side connect from.
    pub fn outside_address(&self) -> &str {
        &self.outside_address
    }

    /// The words that run a command inside the namespace (`ip netns exec NAME`).
    pub fn enter(&self) -> [&str; 4] {
        ["ip", "netns", "exec", &self.namespace]
    }

    /// Cuts the two sides apart: from now on every packet between them is
    /// dropped, whichever way it goes.
    pub fn cut(&self) {
        ip(&[
            "neigh",
            "replace",
            &self.inside_address,
            "lladdr",
            NOBODY,
            "dev",
            &self.outside_link,
            "nud",
            "permanent",
        ])
        .expect("cut the outside's way in");
        self.inside(&[
            "neigh",
            "replace",
            &self.outside_address,
            "lladdr",
            NOBODY,
            "dev",
            &self.inside_link,
            "nud",
            "permanent",
        ])
        .expect("cut the inside's way out");
    }

    /// Joins the two sides again (each learns the other's real address anew).
    pub fn heal(&self) {
        ip(&[
            "neigh",
            "del",
            &self.inside_address,
            "dev",
            &self.outside_link,
        ])
        .expect("heal the outside's way in");
        self.inside(&[
            "neigh",
            "del",
            &self.outside_address,
            "dev",
            &self.inside_link,
        ])
        .expect("heal the inside's way out");
    }

    /// Runs `ip ARGS` inside the namespace.
    fn inside(&self, args: &[&str]) -> Result<(), String> {
        ip(&[&["-n", self.namespace.as_str()], args].concat())
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.outside_link]);
        let _ = ip(&["netns", "del", &self.namespace]);
    }
}

/// Runs `ip ARGS`; its standard error when it fails.
fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|error| format!("cannot run ip: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
