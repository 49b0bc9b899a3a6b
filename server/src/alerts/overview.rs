//! What the alerts page and `pulse alerts list|incidents` show, read from the
//! store: the targets in words (never a secret), the rules' state, the
//! thresholds as set or by default, and each message's outcome.

use std::{future::Future, pin::Pin};

use app::{
    format::utc_timestamp,
    model::{AlertIncident, AlertMessage, AlertRule, AlertTarget, AlertThreshold, AlertsOverview},
    server_fns::{alerts::AlertsService, stats::Viewer},
};

use super::{email::EmailSettings, rules::Rule, thresholds};
use crate::{
    clock::now_ms,
    error_chain,
    store::{
        alerts::{MessageRow, TargetRow},
        Store, StoreError,
    },
};

/// How many incidents the page lists.
const INCIDENTS_SHOWN: i64 = 50;

/// The alerts as the page reads them.
#[derive(Clone)]
pub struct Overview {
    pub store: Store,
    /// The thresholds the settings give.
    pub defaults: thresholds::Limits,
}

impl AlertsService for Overview {
    fn overview(
        &self,
        viewer: Option<Viewer>,
    ) -> Pin<Box<dyn Future<Output = Result<AlertsOverview, String>> + Send>> {
        let overview = self.clone();
        Box::pin(async move {
            let read = async {
                let zone = match viewer {
                    Some(viewer) => overview.store.accounts().time_zone(&viewer.email).await?,
                    None => None,
                };
                let mut page = overview.read(now_ms()).await?;
                page.zone = zone.unwrap_or_else(|| "UTC".to_string());
                Ok::<_, StoreError>(page)
            };
            read.await.map_err(|error| {
                tracing::error!(error = %error_chain(&error), "the alerts page failed");
                "the alerts could not be read; see the server log".to_string()
            })
        })
    }
}

impl Overview {
    /// Everything the page shows, at `now_ms`.
    pub async fn read(&self, now_ms: i64) -> Result<AlertsOverview, StoreError> {
        let alerts = self.store.alerts();
        let targets = alerts.targets().await?;
        let mutes = alerts.mutes(now_ms).await?;
        let open = alerts.open_rules().await?;
        let set = alerts.thresholds().await?;
        let incidents = alerts.incidents(INCIDENTS_SHOWN).await?;
        let limits = self.defaults.with_set(&set);
        Ok(AlertsOverview {
            targets: targets
                .into_iter()
                .map(|target| AlertTarget {
                    place: place(&target),
                    name: target.name,
                    kind: target.kind,
                    added_at_ms: target.created_at_ms,
                    tested: target.tested,
                })
                .collect(),
            rules: Rule::ALL
                .into_iter()
                .map(|rule| AlertRule {
                    key: rule.key().to_string(),
                    title: Rule::title(rule.key()).to_string(),
                    open: open
                        .iter()
                        .filter(|(key, _)| key.split('@').next() == Some(rule.key()))
                        .cloned()
                        .collect(),
                    muted_until_ms: mutes
                        .iter()
                        .find(|(key, _)| key == rule.key())
                        .map(|(_, until)| *until),
                })
                .collect(),
            thresholds: thresholds::ALL
                .into_iter()
                .map(|threshold| AlertThreshold {
                    name: threshold.name.to_string(),
                    label: threshold.label.to_string(),
                    unit: threshold.unit.to_string(),
                    setting: threshold.setting.to_string(),
                    value: limits.value(threshold.name),
                    default: self.defaults.value(threshold.name),
                    set: set.iter().any(|(name, _)| name == threshold.name),
                    min: threshold.min,
                    max: threshold.max,
                })
                .collect(),
            incidents: incidents
                .into_iter()
                .map(|incident| AlertIncident {
                    id: incident.id,
                    title: Rule::title(&incident.rule).to_string(),
                    rule: incident.rule,
                    summary: incident.summary,
                    started_at_ms: incident.started_at_ms,
                    cleared_at_ms: incident.cleared_at_ms,
                    messages: incident
                        .messages
                        .iter()
                        .map(|message| AlertMessage {
                            target: message.target.clone(),
                            event: message.event.clone(),
                            outcome: outcome(message),
                            failed: message.sent_at_ms.is_none() && message.failed_at_ms.is_some(),
                        })
                        .collect(),
                })
                .collect(),
            zone: "UTC".to_string(),
        })
    }
}

/// Where `target` sends, in words: a webhook's URL, an email target's
/// recipients and server; a Slack URL is a secret, so not that.
pub fn place(target: &TargetRow) -> String {
    match (&target.url, &target.settings) {
        (Some(url), _) => url.clone(),
        (None, Some(settings)) => serde_json::from_str::<EmailSettings>(settings)
            .map(|settings| settings.describe())
            .unwrap_or_default(),
        (None, None) => "(URL kept secret)".into(),
    }
}

/// How sending `message` went, in words.
pub fn outcome(message: &MessageRow) -> String {
    match (
        message.sent_at_ms,
        message.failed_at_ms,
        &message.last_error,
    ) {
        (Some(at), _, _) => format!("sent {}", utc_timestamp(at)),
        (None, Some(at), error) => format!(
            "failed {}: {}",
            utc_timestamp(at),
            error.as_deref().unwrap_or_default()
        ),
        (None, None, Some(error)) => format!("retrying: {error}"),
        (None, None, None) => "pending".into(),
    }
}
