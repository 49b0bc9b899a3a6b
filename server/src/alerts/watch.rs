//! The task that decides incidents: every few seconds each rule is judged on
//! a snapshot computed from the database (not the one the node's dashboards
//! hold, which may lag another node's deliveries: every node must judge the
//! same figures), and once its condition has held for `ALERT_FOR_S` (or the hold set on the
//! alerts page, `thresholds`) the
//! incident is opened, or once it has been gone that long since the incident
//! opened, cleared; while it lasts, the targets are reminded every
//! `ALERT_REPEAT_MIN`. The database lets one node do each (`store::alerts`).

use std::collections::HashMap;

use tokio_util::sync::CancellationToken;

use app::model::SnapshotSource;

use super::{rules::Rule, AlertSettings};
use crate::{
    clock::now_ms, error_chain, repeated_warning::RepeatedWarning, stats::StatsPublisher,
    store::Store,
};

/// How often the rules are judged.
const EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Judges the rules on snapshots `stats` computes until `shutdown`.
pub async fn watch(
    store: Store,
    stats: StatsPublisher,
    settings: AlertSettings,
    shutdown: CancellationToken,
) {
    let repeat_ms = crate::clock::duration_ms(settings.repeat).max(1);
    // Per rule: the incident (by its start) and the last reminder of it this
    // node asked for.
    let mut reminded: HashMap<Rule, (i64, i64)> = HashMap::new();
    // Per rule: whether its condition held when last judged, and since when.
    let mut seen: HashMap<Rule, (bool, i64)> = HashMap::new();
    let failures = RepeatedWarning::default();
    let mut every = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let alerts = store.alerts();
        let judged = async {
            let open = alerts.open_rules().await?;
            // The thresholds admins set on any node, judged by from now on,
            // and shown at once by this node's dashboards when they changed.
            let limits = settings.defaults.with_set(&alerts.thresholds().await?);
            let snapshot = if stats.health() == limits.policy {
                stats.compute(SnapshotSource::Poll).await?
            } else {
                stats.set_health(limits.policy);
                stats.publish_now(SnapshotSource::Poll).await?
            };
            Ok::<_, crate::store::StoreError>((open, snapshot, limits.hold))
        };
        let now = now_ms();
        let (open, snapshot, hold) = match judged.await {
            Ok(judged) => judged,
            Err(error) => {
                if let Some(times) = failures.note() {
                    tracing::warn!(error = %error_chain(&error), failures = times, "cannot read the open incidents");
                }
                continue;
            }
        };
        let hold_ms = crate::clock::duration_ms(hold);
        for rule in Rule::ALL {
            let holds = rule.holds(&snapshot);
            let state = seen.entry(rule).or_insert((holds.is_some(), now));
            if state.0 != holds.is_some() {
                *state = (holds.is_some(), now);
            }
            let key = rule.incident_key(&settings.node);
            let started = open
                .iter()
                .find(|(open_key, _)| *open_key == key)
                .map(|(_, started)| *started);
            let reminder = |started: i64| {
                let number = (now - started) / repeat_ms;
                let last = match reminded.get(&rule) {
                    Some((of, last)) if *of == started => *last,
                    _ => 0,
                };
                (number > last).then_some(number)
            };
            let decided = match (holds, started) {
                (Some(summary), None) if now - state.1 >= hold_ms => {
                    let summary = match rule {
                        Rule::RedisPolling => format!("{summary} (node {})", settings.node),
                        _ => summary,
                    };
                    alerts
                        .open(&key, &summary, now)
                        .await
                        .map(|opened| opened.map(|_| "opened"))
                }
                (Some(_), Some(started)) if reminder(started).is_some() => {
                    let number = reminder(started).unwrap_or_default();
                    reminded.insert(rule, (started, number));
                    alerts
                        .repeat(&key, number, now)
                        .await
                        .map(|made| made.then_some("repeated"))
                }
                (None, Some(started)) if now - state.1.max(started) >= hold_ms => alerts
                    .clear(&key, now)
                    .await
                    .map(|cleared| cleared.map(|_| "cleared")),
                _ => Ok(None),
            };
            match decided {
                Ok(Some(what)) => tracing::info!(rule = %key, "incident {what}"),
                Ok(None) => {}
                Err(error) => {
                    if let Some(times) = failures.note() {
                        tracing::warn!(error = %error_chain(&error), failures = times, "cannot record an incident");
                    }
                }
            }
        }
    }
}
