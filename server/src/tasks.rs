//! The node's background tasks, each spawned under a name and all joined
//! when the node stops, so that none is left running unseen and a task that
//! panicked or hangs is named in the log.

use std::{collections::HashMap, future::Future, time::Duration};

use tokio::task::{Id, JoinSet};

/// Tasks that run until the node stops (they watch its shutdown token).
#[derive(Default)]
pub struct NodeTasks {
    set: JoinSet<()>,
    names: HashMap<Id, &'static str>,
}

impl NodeTasks {
    /// Runs `task` on the current runtime under `name`.
    pub fn spawn(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        let handle = self.set.spawn(task);
        self.names.insert(handle.id(), name);
    }

    /// Waits up to `wait` for every task to end (each stops on its own
    /// shutdown signal), logs a task that panicked, and abandons those still
    /// running then, naming them. Returns the names of the abandoned tasks.
    pub async fn join(mut self, wait: Duration) -> Vec<&'static str> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.set.join_next_with_id()).await {
                Ok(None) => return Vec::new(),
                Ok(Some(Ok((id, ())))) => {
                    self.names.remove(&id);
                }
                Ok(Some(Err(error))) => {
                    let name = self.names.remove(&error.id()).unwrap_or("a task");
                    tracing::error!(task = name, %error, "a node task ended abnormally");
                }
                Err(_) => {
                    let mut abandoned: Vec<&'static str> = self.names.into_values().collect();
                    abandoned.sort_unstable();
                    for name in &abandoned {
                        tracing::warn!(task = name, "a node task did not stop in time; abandoned");
                    }
                    self.set.abort_all();
                    return abandoned;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tasks_that_stop_are_joined_and_one_that_hangs_is_named_and_abandoned() {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut tasks = NodeTasks::default();
        for name in ["first", "second"] {
            let mut stopped = stopped.clone();
            tasks.spawn(name, async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            });
        }
        tasks.spawn("panics", async { panic!("on purpose") });
        tasks.spawn("hangs", std::future::pending());
        stop.send_replace(true);
        assert_eq!(tasks.join(Duration::from_secs(1)).await, ["hangs"]);
    }

    #[tokio::test(start_paused = true)]
    async fn with_every_task_stopped_nothing_is_abandoned() {
        let mut tasks = NodeTasks::default();
        tasks.spawn("quick", async {});
        assert!(tasks.join(Duration::from_secs(1)).await.is_empty());
    }
}
