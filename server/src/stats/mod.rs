//! Turning committed events into pushed snapshots.
//!
//! The webhook marks the stats dirty after each commit; the [`coalescer`]
//! decides when to recompute; [`StatsPublisher::publish_now`] reads the
//! aggregates from the store and hands the snapshot to the bus.

pub mod accounts_page;
pub mod coalescer;
pub mod document;
mod health;
pub mod pacing;
mod storage;

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use app::{
    model::{
        AccountPage, AccountsPage, AccountsQuery, HistoryFailure, HistoryQuery, HistoryReport,
        SnapshotSource, StatsSnapshot,
    },
    server_fns::stats::{StatsService, Viewer},
};
use tokio_util::sync::CancellationToken;

use crate::{
    bus::{Reach, Recompute, StatsBus},
    clock::now_ms,
    error_chain,
    metrics::metrics,
    store::{history::Whose, Store, StoreError, Today, MINUTE_MS},
};
use coalescer::DirtyFlag;
use document::{document, NodeView};
pub use health::HealthPolicy;
pub use pacing::Pacer;
use storage::StorageWatch;

/// Recomputes snapshots from the store and publishes them on the bus.
#[derive(Clone, Debug)]
pub struct StatsPublisher {
    store: Store,
    bus: StatsBus,
    dirty: Arc<DirtyFlag>,
    /// When the dashboard warns; the alerts' thresholds, as admins set them
    /// (`alerts::thresholds`), replace it while the node runs.
    health: Arc<std::sync::RwLock<HealthPolicy>>,
    /// The silent accounts, as (minute counted in, count): recounted at
    /// most once a minute and on a manual refresh.
    silent: Arc<std::sync::Mutex<Option<(i64, i64)>>>,
    /// The database's room, measured at most once a minute.
    storage: Arc<std::sync::Mutex<StorageWatch>>,
}

impl StatsPublisher {
    /// Computes the first snapshot and creates the bus around it.
    pub async fn start(store: Store, health: HealthPolicy) -> Result<Self, StoreError> {
        let mut publisher = StatsPublisher {
            store,
            bus: StatsBus::new(StatsSnapshot::default()),
            dirty: Arc::new(DirtyFlag::default()),
            health: Arc::new(std::sync::RwLock::new(health)),
            silent: Arc::default(),
            storage: Arc::default(),
        };
        publisher.bus = StatsBus::new(publisher.compute(SnapshotSource::Initial).await?);
        Ok(publisher)
    }

    /// When the dashboard warns, now.
    pub fn health(&self) -> HealthPolicy {
        *self
            .health
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Warns by `policy` from the next snapshot on.
    pub fn set_health(&self, policy: HealthPolicy) {
        *self
            .health
            .write()
            .unwrap_or_else(|poison| poison.into_inner()) = policy;
    }

    /// The bus carrying this publisher's snapshots.
    pub fn bus(&self) -> &StatsBus {
        &self.bus
    }

    /// Records that committed data changed; a push follows within the
    /// coalescing interval.
    pub fn mark_dirty(&self) {
        self.dirty.mark();
    }

    /// Recomputes the snapshot now and publishes it: to every node for
    /// webhook pushes and manual refreshes, to this node's dashboards only for
    /// clock-driven recomputes (every node does those itself).
    pub async fn publish_now(&self, source: SnapshotSource) -> Result<StatsSnapshot, StoreError> {
        let snapshot = self.compute(source).await?;
        self.bus.publish(snapshot.clone(), Reach::of(source));
        Ok(snapshot)
    }

    /// [`Self::compute`] as the bus's relay takes it.
    pub fn recompute(&self) -> Recompute {
        let publisher = self.clone();
        Arc::new(move |source| {
            let publisher = publisher.clone();
            Box::pin(async move { Ok(publisher.compute(source).await?) })
        })
    }

    /// Reads the store's rows and builds the snapshot for them.
    pub async fn compute(&self, source: SnapshotSource) -> Result<StatsSnapshot, StoreError> {
        let now = now_ms();
        let timer = metrics().snapshot_seconds.start_timer();
        let rows = self.store.snapshot_rows(now).await?;
        timer.observe_duration();
        let health = self.health();
        let node = NodeView {
            source,
            health: &health,
            refusing: self.store.write_health().refusing(),
            silent_accounts: self.silent_accounts(now, source).await?,
            delivery: self.bus.delivery(),
            storage: self.storage(now).await,
        };
        Ok(document(&rows, node))
    }

    /// The database's room: measured again once a minute; a measurement
    /// that fails is logged and the last one kept (a dashboard never fails
    /// for it).
    async fn storage(&self, now: i64) -> app::model::Storage {
        let due = self
            .storage
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .due(now);
        if due {
            match self.store.storage().await {
                Ok(measured) => {
                    metrics().database_bytes.set(measured.database_bytes);
                    if let Some(disk) = measured.disk {
                        metrics().database_disk_free_bytes.set(disk.free_bytes);
                    }
                    self.storage
                        .lock()
                        .unwrap_or_else(|poison| poison.into_inner())
                        .record(now, measured)
                }
                Err(error) => {
                    tracing::warn!(error = %error_chain(&error), "could not measure the database's room")
                }
            }
        }
        self.storage
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .storage()
    }

    /// The silent accounts: counted again in a new minute or for a manual
    /// refresh, else as counted last. (Silence is a matter of hours; its
    /// count costs a read of every account that could be silent.)
    async fn silent_accounts(&self, now: i64, source: SnapshotSource) -> Result<i64, StoreError> {
        let minute = now - now.rem_euclid(MINUTE_MS);
        let cached = *self
            .silent
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        match cached {
            Some((counted_in, count))
                if counted_in == minute && source != SnapshotSource::Manual =>
            {
                Ok(count)
            }
            _ => {
                let count = self
                    .store
                    .silent_accounts(now, &self.health().thresholds)
                    .await?;
                *self
                    .silent
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner()) = Some((minute, count));
                Ok(count)
            }
        }
    }

    /// Runs until `shutdown`: pushes coalesced updates after webhooks, as
    /// often as `pacer` says the node can afford, and a fresh snapshot at
    /// each minute boundary so time windows (last hour, today, active
    /// conversations) move on even when no events arrive; then deletes the
    /// per-account rows the windows left behind and catches up the accounts
    /// page's ordered figures (built first thing).
    pub async fn run(self, mut pacer: Pacer, shutdown: CancellationToken) {
        let bus = self.bus.clone();
        let pace = move || {
            pacer.interval(
                bus.receivers(),
                pacing::process_cpu_time(),
                metrics().frames_delivered.get(),
            )
        };
        let pushes = coalescer::run(self.dirty.clone(), pace, shutdown.clone(), || async {
            self.publish_now(SnapshotSource::Push).await.map(|_| ())
        });
        tokio::join!(
            pushes,
            self.roll_minutes(shutdown.clone()),
            self.follow_write_health(shutdown)
        );
    }

    /// Pushes a snapshot whenever the database starts or stops refusing
    /// writes, so that every dashboard says so within a push.
    async fn follow_write_health(&self, shutdown: CancellationToken) {
        let mut changes = self.store.write_health().changes();
        loop {
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    self.mark_dirty();
                }
                () = shutdown.cancelled() => return,
            }
        }
    }

    async fn roll_minutes(&self, shutdown: CancellationToken) {
        tokio::select! {
            () = self.keep_account_figures_up() => {}
            () = shutdown.cancelled() => return,
        }
        loop {
            let until_next_minute = MINUTE_MS - now_ms().rem_euclid(MINUTE_MS);
            let sleep = tokio::time::sleep(Duration::from_millis(until_next_minute as u64));
            tokio::select! {
                () = sleep => {}
                () = shutdown.cancelled() => return,
            }
            if let Err(error) = self.publish_now(SnapshotSource::Poll).await {
                tracing::warn!(error = %error_chain(&error), "could not refresh stats at the minute boundary");
            }
            if let Err(error) = self.store.purge_expired_account_rows(now_ms()).await {
                tracing::warn!(error = %error_chain(&error), "could not delete expired per-account rows");
            }
            // A catch-up after a long outage reads every account: seconds.
            tokio::select! {
                () = self.keep_account_figures_up() => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Catches the accounts page's ordered figures up (all of them, the
    /// first time), the UTC day's and the admins' zones', so that no page has
    /// to wait for more than a minute's changes.
    /// (Its time is in `pulse_account_figures_catch_up_seconds`.)
    async fn keep_account_figures_up(&self) {
        let chosen = match self
            .store
            .accounts()
            .chosen_time_zones(crate::store::account_figures::ZONES_HELD)
            .await
        {
            Ok(zones) => zones,
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "could not read the admins' time zones");
                Vec::new()
            }
        };
        let chosen: Vec<Today> = chosen
            .iter()
            .map(|zone| accounts_page::today(Some(zone)))
            .filter(|today| *today != Today::Utc)
            .collect();
        match self.store.keep_account_figures_up(now_ms(), &chosen).await {
            Ok(recomputed) => tracing::debug!(recomputed, "accounts page figures caught up"),
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "could not catch up the accounts page's figures")
            }
        }
    }
}

impl StatsPublisher {
    /// One page of the accounts table, computed now from the store.
    pub async fn accounts_page(&self, query: &AccountsQuery) -> Result<AccountsPage, StoreError> {
        let now = now_ms();
        let silent = self.silent_accounts(now, SnapshotSource::Push).await?;
        let timer = metrics().accounts_page_seconds.start_timer();
        let page =
            accounts_page::read(&self.store, now, query, &self.health().thresholds, silent).await?;
        timer.observe_duration();
        Ok(page)
    }
}

impl StatsPublisher {
    /// The page of the account `id`, computed now, today counted in `zone`
    /// (an IANA name already checked; `None`: the UTC day); `None` when it
    /// was never seen.
    pub async fn account_page(
        &self,
        id: &str,
        zone: Option<&str>,
    ) -> Result<Option<AccountPage>, StoreError> {
        accounts_page::account(&self.store, now_ms(), id, zone, &self.health().thresholds).await
    }
}

impl StatsPublisher {
    /// Every account of the table's `query` as CSV, streamed in chunks (see
    /// [`accounts_page::csv_chunks`]).
    pub async fn accounts_csv(
        &self,
        query: &AccountsQuery,
    ) -> Result<impl futures::Stream<Item = Result<String, StoreError>> + use<>, StoreError> {
        accounts_page::csv_chunks(
            self.store.clone(),
            now_ms(),
            query,
            self.health().thresholds,
        )
        .await
    }
}

impl StatsService for StatsPublisher {
    fn latest(&self) -> StatsSnapshot {
        self.bus.latest().snapshot.clone()
    }

    fn refresh_now(&self) -> Pin<Box<dyn Future<Output = Result<StatsSnapshot, String>> + Send>> {
        let publisher = self.clone();
        Box::pin(async move {
            publisher
                .publish_now(SnapshotSource::Manual)
                .await
                .map_err(|error| {
                    tracing::error!(error = %error_chain(&error), "manual stats refresh failed");
                    "the stats could not be recomputed; see the server log".to_string()
                })
        })
    }

    fn accounts(
        &self,
        mut query: AccountsQuery,
        viewer: Option<Viewer>,
    ) -> Pin<Box<dyn Future<Output = Result<AccountsPage, HistoryFailure>> + Send>> {
        let publisher = self.clone();
        Box::pin(async move {
            let email = viewer.map(|viewer| viewer.email);
            query.zone = crate::history::live_zone(&publisher.store, query.zone, email).await?;
            publisher.accounts_page(&query).await.map_err(|error| {
                tracing::error!(error = %error_chain(&error), "the accounts page failed");
                HistoryFailure::unavailable("the accounts could not be read; see the server log")
            })
        })
    }

    fn account(
        &self,
        id: String,
        zone: Option<String>,
        viewer: Option<Viewer>,
    ) -> Pin<Box<dyn Future<Output = Result<Option<AccountPage>, HistoryFailure>> + Send>> {
        let publisher = self.clone();
        Box::pin(async move {
            let email = viewer.map(|viewer| viewer.email);
            let zone = crate::history::live_zone(&publisher.store, zone, email).await?;
            publisher
                .account_page(&id, zone.as_deref())
                .await
                .map_err(|error| {
                    tracing::error!(error = %error_chain(&error), "an account's page failed");
                    HistoryFailure::unavailable("the account could not be read; see the server log")
                })
        })
    }

    fn history(
        &self,
        account: Option<String>,
        query: HistoryQuery,
        viewer: Option<Viewer>,
    ) -> Pin<Box<dyn Future<Output = Result<HistoryReport, HistoryFailure>> + Send>> {
        let store = self.store.clone();
        Box::pin(async move {
            let whose = match &account {
                Some(id) => Whose::Account(id),
                None => Whose::Service,
            };
            let email = viewer.map(|viewer| viewer.email);
            crate::history::for_admin(&store, whose, query, email, now_ms()).await
        })
    }

    fn live_zone(
        &self,
        named: Option<String>,
        viewer: Option<Viewer>,
    ) -> Pin<Box<dyn Future<Output = Result<Option<String>, HistoryFailure>> + Send>> {
        let store = self.store.clone();
        Box::pin(async move {
            let email = viewer.map(|viewer| viewer.email);
            crate::history::live_zone(&store, named, email).await
        })
    }
}
