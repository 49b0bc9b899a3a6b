//! A small filesystem of its own (a tmpfs mounted on a new directory) that a
//! test can fill to the last byte and free again: how a full disk is met
//! without filling the machine's. Mounting needs root (CI runs as root);
//! elsewhere [`Tmpfs::mount`] says why it cannot, and the test says it skipped.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
};

/// A mounted tmpfs, unmounted (and its directory removed) when dropped.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

/// The file that takes the space [`Tmpfs::fill`] takes.
const FILLER: &str = "filler";

impl Tmpfs {
    /// Mounts a tmpfs of `megabytes` on a new directory, open to every user
    /// (a Postgres cluster runs as `postgres`); the reason when this machine
    /// does not allow it.
    pub fn mount(megabytes: u64) -> Result<Tmpfs, String> {
        let dir = tempfile::Builder::new()
            .prefix("pulse-test-tmpfs-")
            .tempdir()
            .map_err(|error| format!("no temporary directory: {error}"))?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={megabytes}m,mode=0777"))
            .arg("tmpfs")
            .arg(dir.path())
            .output()
            .map_err(|error| format!("cannot run mount: {error}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount -t tmpfs failed (it needs root): {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(Tmpfs { dir })
    }

    /// The mounted directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Bytes still free on the filesystem.
    pub fn available(&self) -> u64 {
        let output = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(self.path())
            .output()
            .expect("run df");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .nth(1)
            .and_then(|line| line.trim().parse().ok())
            .expect("df prints the space available")
    }

    /// Takes every free byte (in one file, written until the filesystem
    /// refuses even 512 bytes more); returns how many it took.
    pub fn fill(&self) -> u64 {
        let mut filler = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.filler())
            .expect("create the filler file");
        let mut taken = 0;
        let mut chunk = 1 << 20;
        while chunk >= 512 {
            let zeros = vec![0u8; chunk];
            match filler.write_all(&zeros).and_then(|()| filler.flush()) {
                Ok(()) => taken += chunk as u64,
                Err(_) => chunk /= 2,
            }
        }
        taken
    }

    /// Gives back what [`Tmpfs::fill`] took.
    pub fn release(&self) {
        std::fs::remove_file(self.filler()).expect("remove the filler file");
    }

    fn filler(&self) -> PathBuf {
        self.path().join(FILLER)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: a process that still holds a file there (a server being
        // stopped) must not keep the mount.
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}
