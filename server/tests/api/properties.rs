//! Property: however a set of events is delivered (duplicated, reordered,
//! split into batches), the stats, the history and each account's history
//! equal those of each event applied once; the history's quarter-hours and
//! each account's quarter-hours equal a recount of the raw events stored, and
//! the accounts' quarter-hours add up to the service's; the active conversations'
//! sketches, the service's and each account's, are the same whatever the
//! delivery, and their estimate of the whole span is within three standard
//! errors of a recount.

use app::model::{SnapshotSource, StatsSnapshot};
use proptest::prelude::*;
use pulse::{
    store::{
        account_history::ACCOUNT_FIGURES,
        history::{StepCount, Whose, EVERY_FIGURE, QUARTER_MS},
        Backend, Store, DAY_MS, MINUTE_MS,
    },
    webhook::payload,
};

use crate::{
    helpers::{AccountsPageOf, SnapshotOf},
    postgres::fresh_database_url,
};

/// 2026-11-25 18:30:05 UTC.
const NOW: i64 = 1_795_631_405_000;

/// The default thresholds (`AUTOMATION_REPLY_ALERT_S`, `ACCOUNT_SILENCE_*`).
const THRESHOLDS: pulse::store::Thresholds = pulse::store::Thresholds {
    reply_alert: std::time::Duration::from_secs(300),
    silence_min_events: 20,
    silence_after: std::time::Duration::from_secs(7200),
};

/// One generated event: (kind, account, customer, minutes before NOW).
type Spec = (u8, u8, u8, u16);

/// The JSON of event number `index` of `spec`, in its documented shape.
fn item(index: usize, (kind, account, customer, minutes_ago): Spec) -> (String, String) {
    let account = format!("biz-{account}");
    let customer = format!("customer-{customer}");
    let at = NOW - i64::from(minutes_ago) * MINUTE_MS;
    let messaging = |body: String, from_business: bool| {
        let (sender, recipient) = if from_business {
            (&account, &customer)
        } else {
            (&customer, &account)
        };
        format!(
            r#"{{"sender":{{"id":"{sender}"}},"recipient":{{"id":"{recipient}"}},"timestamp":{at},{body}}}"#
        )
    };
    let json = match kind % 8 {
        0 => messaging(
            format!(r#""message":{{"mid":"m{index}","text":"hi"}}"#),
            false,
        ),
        1 => messaging(
            format!(r#""message":{{"mid":"m{index}","text":"hello","is_echo":true}}"#),
            true,
        ),
        2 => messaging(
            format!(
                r#""message":{{"mid":"m{index}","reply_to":{{"story":{{"id":"s1","url":"u"}}}}}}"#
            ),
            false,
        ),
        3 => messaging(
            format!(r#""reaction":{{"mid":"m{index}","action":"react","emoji":"x"}}"#),
            false,
        ),
        4 => messaging(format!(r#""read":{{"mid":"m{index}"}}"#), false),
        5 => messaging(
            format!(r#""message":{{"mid":"m{index}","is_deleted":true}}"#),
            false,
        ),
        // Counts nothing: an account seen only in these has no figure.
        7 => messaging(
            format!(r#""reaction":{{"mid":"m{index}","action":"unreact"}}"#),
            false,
        ),
        _ => {
            let value =
                format!(r#"{{"id":"c{index}","from":{{"id":"{customer}"}},"text":"nice"}}"#);
            return (
                account,
                format!(r#"{{"field":"comments","value":{value}}}"#),
            );
        }
    };
    (account, json)
}

/// A delivery of `items` (account, item JSON): one entry per item, messaging
/// items and changes in their own arrays.
fn delivery(items: &[&(String, String)]) -> String {
    let entries: Vec<String> = items
        .iter()
        .map(|(account, json)| {
            let array = if json.starts_with(r#"{"field""#) {
                "changes"
            } else {
                "messaging"
            };
            format!(
                r#"{{"id":"{account}","time":{},"{array}":[{json}]}}"#,
                NOW / 1000
            )
        })
        .collect();
    format!(
        r#"{{"object":"instagram","entry":[{}]}}"#,
        entries.join(",")
    )
}

/// A new database of `backend` (a SQLite file in `dir`).
async fn database_url(backend: Backend, dir: &tempfile::TempDir) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("p.db").display()),
        Backend::Postgres => fresh_database_url().await,
    }
}

/// The snapshot (its version zeroed: it counts transactions, which is
/// exactly what differs) and the history after one store took `deliveries`
/// one after the other.
async fn stats_after(backend: Backend, deliveries: &[String]) -> (StatsSnapshot, Vec<StepCount>) {
    let (snapshot, _, history, ..) = figures_after_one_store(backend, deliveries).await;
    (snapshot, history)
}

fn specs_and_order() -> impl Strategy<Value = (Vec<Spec>, Vec<usize>, Vec<usize>)> {
    prop::collection::vec((0u8..7, 0u8..3, 0u8..6, 0u16..(3 * 24 * 60)), 1..30).prop_flat_map(
        |specs| {
            let count = specs.len();
            let repeats = prop::collection::vec(0..count, 0..count * 2);
            (
                Just(specs),
                repeats,
                prop::collection::vec(1usize..8, 1..20),
            )
        },
    )
}

/// `items` each at least once, some again (`repeats`), shuffled by `seed`
/// and split into deliveries of `batch_sizes` items in turn.
fn messy_deliveries(
    items: &[(String, String)],
    repeats: Vec<usize>,
    batch_sizes: &[usize],
    seed: u64,
) -> Vec<String> {
    let mut order: Vec<usize> = (0..items.len()).chain(repeats).collect();
    let mut state = seed | 1;
    for i in (1..order.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let mut deliveries = Vec::new();
    let mut rest: &[usize] = &order;
    for size in batch_sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (batch, tail) = rest.split_at((*size).min(rest.len()));
        deliveries.push(delivery(
            &batch.iter().map(|&i| &items[i]).collect::<Vec<_>>(),
        ));
        rest = tail;
    }
    deliveries
}

/// What the messy deliveries are compared with.
#[derive(Clone, Copy)]
enum Reference {
    /// Every event once, in one delivery.
    AllAtOnce,
    /// One delivery per event, oldest first (at the same minute received
    /// before sent, as the rules order them): each is then newer than
    /// everything stored, so no late-delivery recount happens.
    OneByOneInOrder,
}

/// Delivers `specs` in the messy order described by the other arguments and
/// as `reference` says, on `backend`, and checks both give the same stats
/// (replies and waiting compared first, for a clearer failure).
fn check_order_independence(
    backend: Backend,
    specs: Vec<Spec>,
    repeats: Vec<usize>,
    batch_sizes: Vec<usize>,
    seed: u64,
    reference: Reference,
) -> Result<(), TestCaseError> {
    let items: Vec<(String, String)> = specs
        .iter()
        .enumerate()
        .map(|(index, spec)| item(index, *spec))
        .collect();
    let deliveries = messy_deliveries(&items, repeats, &batch_sizes, seed);
    let reference = match reference {
        Reference::AllAtOnce => vec![delivery(&items.iter().collect::<Vec<_>>())],
        Reference::OneByOneInOrder => {
            let mut in_order: Vec<usize> = (0..items.len()).collect();
            in_order.sort_by_key(|&i| (std::cmp::Reverse(specs[i].3), specs[i].0));
            in_order.iter().map(|&i| delivery(&[&items[i]])).collect()
        }
    };

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (messy, expected) = runtime.block_on(async {
        (
            stats_after(backend, &deliveries).await,
            stats_after(backend, &reference).await,
        )
    });
    prop_assert_eq!(messy.0.replies, expected.0.replies);
    prop_assert_eq!(messy.0.waiting, expected.0.waiting);
    prop_assert_eq!(messy, expected);
    Ok(())
}

/// Received DMs and replies (kinds 0 and 1) in three conversations of one
/// account over the last 90 minutes, many at the same minute.
fn dm_specs_and_order() -> impl Strategy<Value = (Vec<Spec>, Vec<usize>, Vec<usize>)> {
    prop::collection::vec((0u8..2, Just(0u8), 0u8..3, 0u16..90), 1..40).prop_flat_map(|specs| {
        let count = specs.len();
        (
            Just(specs),
            prop::collection::vec(0..count, 0..count),
            prop::collection::vec(1usize..6, 1..10),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn on_sqlite_any_delivery_order_and_repetition_gives_the_same_stats(
        (specs, repeats, batch_sizes) in specs_and_order(),
        seed in any::<u64>(),
    ) {
        check_order_independence(Backend::Sqlite, specs, repeats, batch_sizes, seed, Reference::AllAtOnce)?;
    }
}

proptest! {
    // Fewer cases: each one creates two Postgres databases.
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn on_postgres_any_delivery_order_and_repetition_gives_the_same_stats(
        (specs, repeats, batch_sizes) in specs_and_order(),
        seed in any::<u64>(),
    ) {
        check_order_independence(Backend::Postgres, specs, repeats, batch_sizes, seed, Reference::AllAtOnce)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn on_sqlite_replies_and_waiting_do_not_depend_on_delivery_order(
        (specs, repeats, batch_sizes) in dm_specs_and_order(),
        seed in any::<u64>(),
    ) {
        check_order_independence(Backend::Sqlite, specs, repeats, batch_sizes, seed, Reference::OneByOneInOrder)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn on_postgres_replies_and_waiting_do_not_depend_on_delivery_order(
        (specs, repeats, batch_sizes) in dm_specs_and_order(),
        seed in any::<u64>(),
    ) {
        check_order_independence(Backend::Postgres, specs, repeats, batch_sizes, seed, Reference::OneByOneInOrder)?;
    }
}

/// The snapshot and the first accounts page after `deliveries` were written
/// by two stores opened on one database at once: delivery `i` goes to store
/// `i % 2`, and each store takes all of its deliveries concurrently (on
/// Postgres each store runs its default writers, so up to four writer slots
/// add to the aggregates at once).
async fn figures_after_two_stores(backend: Backend, deliveries: &[String]) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(backend, &dir).await;
    let stores = [
        Store::open(&url).await.unwrap(),
        Store::open(&url).await.unwrap(),
    ];
    let writes = deliveries.iter().enumerate().map(|(index, body)| {
        let store = stores[index % 2].clone();
        let events = payload::parse(body.as_bytes(), NOW).unwrap();
        async move { store.ingest(events, NOW).await.unwrap() }
    });
    futures::future::join_all(writes).await;
    figures_of(&stores[0], &url).await
}

/// [`figures_after_two_stores`] for one store taking `deliveries` one after
/// the other.
async fn figures_after_one_store(backend: Backend, deliveries: &[String]) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(backend, &dir).await;
    let store = Store::open(&url).await.unwrap();
    for body in deliveries {
        let events = payload::parse(body.as_bytes(), NOW).unwrap();
        store.ingest(events, NOW).await.unwrap();
    }
    figures_of(&store, &url).await
}

/// What the properties compare: the snapshot, the first accounts page,
/// the history's quarter-hours over the days the events span, each
/// account's quarter-hours and active conversations (each quarter-hour's and
/// the whole span's), and the service's active conversations of each
/// quarter-hour and of the whole span.
type Figures = (
    StatsSnapshot,
    app::model::AccountsPage,
    Vec<StepCount>,
    Vec<(String, Vec<StepCount>, Vec<u64>)>,
    Vec<u64>,
);

/// The snapshot and the first accounts page (default order), versions
/// zeroed: they count transactions, which is what differs; and every
/// quarter-hour of the history from three days before [`NOW`] to the end of
/// its day, after checking that the history read in larger units (days,
/// hours) gives the same sums, that its metrics add up to the snapshot's
/// totals, and that each quarter-hour's counts of the kinds kept one to one
/// equal a recount of the raw events stored in the database at `url`.
async fn figures_of(store: &Store, url: &str) -> Figures {
    let mut snapshot = store
        .snapshot(NOW, SnapshotSource::Initial, &THRESHOLDS)
        .await
        .unwrap();
    snapshot.version = 0;
    let mut page = store
        .accounts_page(NOW, &app::model::AccountsQuery::default(), &THRESHOLDS)
        .await
        .unwrap();
    page.version = 0;
    let start = NOW - NOW % DAY_MS - 3 * DAY_MS;
    let end = NOW - NOW % DAY_MS + DAY_MS;
    let quarters: Vec<(i64, i64)> = (start..end)
        .step_by(QUARTER_MS as usize)
        .map(|from| (from, from + QUARTER_MS))
        .collect();
    let mut history = store
        .history(Whose::Service, &quarters, &EVERY_FIGURE)
        .await
        .unwrap();
    history.sort_by(|a, b| (a.step, &a.figure).cmp(&(b.step, &b.figure)));
    let whole = store
        .history(Whose::Service, &[(start, end)], &EVERY_FIGURE)
        .await
        .unwrap();
    for StepCount { figure, count, .. } in &whole {
        let by_quarter: i64 = history
            .iter()
            .filter(|step| &step.figure == figure)
            .map(|step| step.count)
            .sum();
        assert_eq!(
            by_quarter, *count,
            "{figure}: quarters and the whole span disagree"
        );
    }
    let total = |figure: &str| {
        whole
            .iter()
            .find(|step| step.figure == figure)
            .map_or(0, |step| step.count)
    };
    assert_eq!(total("dm_received"), snapshot.dms_received.total);
    assert_eq!(total("dm_sent"), snapshot.dms_sent.total);
    assert_eq!(total("reaction"), snapshot.engagement.reactions.total);
    assert_eq!(total("comment"), snapshot.engagement.comments.total);
    for ((figure, quarter), count) in recount_by_quarter(url, start).await {
        let kept = history
            .iter()
            .find(|step| step.step == quarter && step.figure == figure)
            .map_or(0, |step| step.count);
        assert_eq!(
            kept, count,
            "{figure} in quarter {quarter} of the history against the raw events"
        );
    }
    let accounts = account_quarters_of(store, url, &page, start, end).await;
    let whole = [(start, end)];
    let read = store
        .active_conversations_by_step(&[&quarters, &whole])
        .await
        .unwrap();
    assert_eq!(
        read[0].whole, read[1].whole,
        "the quarter-hours' sketches merged and the span read in days give one estimate"
    );
    let mut active = read[0].steps.clone();
    active.push(read[0].whole);
    let estimated = read[0].whole as f64;
    let counted = stored_conversations(url, None, start, end).await as f64;
    assert!(
        (estimated - counted).abs() <= 2.0_f64.max(0.07 * counted),
        "{estimated} active conversations estimated, {counted} in the raw events"
    );
    (snapshot, page, history, accounts, active)
}

/// The conversations (of `account`, or of every account) with a DM stored in
/// the database at `url` whose event time is in `[start, end)`.
async fn stored_conversations(url: &str, account: Option<&str>, start: i64, end: i64) -> i64 {
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let (count,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM (SELECT DISTINCT account_id, peer_id FROM events
             WHERE kind IN ('dm_received', 'dm_sent') AND peer_id IS NOT NULL
               AND occurred_at_ms >= $1 AND occurred_at_ms < $2
               AND ($3 = '' OR account_id = $3)) AS conversations",
    )
    .bind(start)
    .bind(end)
    .bind(account.unwrap_or_default())
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    count
}

/// Every account's history quarter-hour by quarter-hour over `[start, end)`,
/// after checking that the accounts' quarter-hours add up to the service's
/// (every figure but the refusals) and that each account's quarter-hours of
/// the kinds kept one to one equal a recount of its raw events. `page` must
/// hold every account.
async fn account_quarters_of(
    store: &Store,
    url: &str,
    page: &app::model::AccountsPage,
    start: i64,
    end: i64,
) -> Vec<(String, Vec<StepCount>, Vec<u64>)> {
    assert_eq!(
        page.total,
        page.rows.len() as i64,
        "one page holds every account"
    );
    let quarters: Vec<(i64, i64)> = (start..end)
        .step_by(QUARTER_MS as usize)
        .map(|from| (from, from + QUARTER_MS))
        .collect();
    let mut accounts = Vec::new();
    let mut summed = std::collections::BTreeMap::new();
    for row in &page.rows {
        let mut counts = store
            .history(Whose::Account(&row.account_id), &quarters, &ACCOUNT_FIGURES)
            .await
            .unwrap();
        counts.sort_by(|a, b| (a.step, &a.figure).cmp(&(b.step, &b.figure)));
        for step in &counts {
            *summed.entry((step.step, step.figure.clone())).or_insert(0) += step.count;
        }
        let whole = [(start, end)];
        let active = store
            .account_active_conversations_by_step(&row.account_id, &[&quarters, &whole])
            .await
            .unwrap();
        assert_eq!(
            active[0].whole, active[1].whole,
            "{}: the quarter-hours' sketches merged and the span read whole give one estimate",
            row.account_id
        );
        let estimated = active[0].whole as f64;
        let counted = stored_conversations(url, Some(&row.account_id), start, end).await as f64;
        assert!(
            (estimated - counted).abs() <= 2.0_f64.max(0.07 * counted),
            "{}: {estimated} active conversations estimated, {counted} in the raw events",
            row.account_id
        );
        let mut estimates = active[0].steps.clone();
        estimates.push(active[0].whole);
        accounts.push((row.account_id.clone(), counts, estimates));
    }
    let service = store
        .history(Whose::Service, &quarters, &ACCOUNT_FIGURES)
        .await
        .unwrap();
    let service: std::collections::BTreeMap<_, _> = service
        .into_iter()
        .map(|step| ((step.step, step.figure), step.count))
        .collect();
    assert_eq!(
        summed, service,
        "the accounts' quarter-hours add up to the service's"
    );
    for ((account, figure, quarter), count) in recount_by_account_quarter(url, start).await {
        let kept = accounts
            .iter()
            .find(|(id, _, _)| *id == account)
            .and_then(|(_, steps, _)| {
                steps
                    .iter()
                    .find(|step| step.step == quarter && step.figure == figure)
            })
            .map_or(0, |step| step.count);
        assert_eq!(
            kept, count,
            "{figure} of {account} in quarter-hour {quarter} against the raw events"
        );
    }
    accounts
}

/// The raw events of the kinds counted one to one
/// ([`COUNTED_ONE_TO_ONE`]), counted per account and quarter-hour from
/// `start`: ((account, figure, quarter), count), for the events stored.
async fn recount_by_account_quarter(url: &str, start: i64) -> Vec<((String, String, usize), i64)> {
    let mut counts = std::collections::BTreeMap::new();
    for (account, kind, at) in stored_events(url).await {
        if COUNTED_ONE_TO_ONE.contains(&kind.as_str()) {
            let quarter = usize::try_from((at - start).div_euclid(QUARTER_MS)).unwrap();
            *counts.entry((account, kind, quarter)).or_insert(0) += 1;
        }
    }
    counts.into_iter().collect()
}

/// The raw events of the kinds whose history figure counts them one to one
/// (`dm_received`, `dm_sent`, `reaction`, `read`, `message_deleted`,
/// `comment`), counted per quarter-hour from `start` straight from the
/// `events` table of the database at `url`: ((figure, quarter), count), for
/// every kind and quarter of `start`'s four days (0 where there are none).
async fn recount_by_quarter(url: &str, start: i64) -> Vec<((String, usize), i64)> {
    let quarters = (4 * DAY_MS / QUARTER_MS) as usize;
    let mut counts = std::collections::BTreeMap::new();
    for kind in COUNTED_ONE_TO_ONE {
        for quarter in 0..quarters {
            counts.insert((kind.to_string(), quarter), 0);
        }
    }
    for (_, kind, at) in stored_events(url).await {
        let quarter = usize::try_from((at - start).div_euclid(QUARTER_MS)).unwrap();
        if let Some(count) = counts.get_mut(&(kind, quarter)) {
            *count += 1;
        }
    }
    counts.into_iter().collect()
}

/// The kinds whose history figure counts their events one to one.
const COUNTED_ONE_TO_ONE: [&str; 6] = [
    "dm_received",
    "dm_sent",
    "reaction",
    "read",
    "message_deleted",
    "comment",
];

/// Every event stored in the database at `url`: (account, kind, event time).
async fn stored_events(url: &str) -> Vec<(String, String, i64)> {
    use sqlx::Row as _;
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let rows = sqlx::query("SELECT account_id, kind, occurred_at_ms FROM events")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows.iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}

/// Random deliveries (repeated, shuffled, batched) split between two stores
/// writing one database at once give the figures of every event written once
/// by one store.
fn check_two_stores(
    backend: Backend,
    specs: Vec<Spec>,
    repeats: Vec<usize>,
    batch_sizes: Vec<usize>,
    seed: u64,
) -> Result<(), TestCaseError> {
    let items: Vec<(String, String)> = specs
        .iter()
        .enumerate()
        .map(|(index, spec)| item(index, *spec))
        .collect();
    let deliveries = messy_deliveries(&items, repeats, &batch_sizes, seed);
    let once = vec![delivery(&items.iter().collect::<Vec<_>>())];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (two, one) = runtime.block_on(async {
        (
            figures_after_two_stores(backend, &deliveries).await,
            figures_after_one_store(backend, &once).await,
        )
    });
    prop_assert_eq!(two.0, one.0);
    prop_assert_eq!(two.1, one.1);
    prop_assert_eq!(two.2, one.2);
    prop_assert_eq!(two.4, one.4);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn on_postgres_two_stores_writing_at_once_give_the_figures_of_one(
        (specs, repeats, batch_sizes) in specs_and_order(),
        seed in any::<u64>(),
    ) {
        check_two_stores(Backend::Postgres, specs, repeats, batch_sizes, seed)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn on_sqlite_two_stores_writing_at_once_give_the_figures_of_one(
        (specs, repeats, batch_sizes) in specs_and_order(),
        seed in any::<u64>(),
    ) {
        check_two_stores(Backend::Sqlite, specs, repeats, batch_sizes, seed)?;
    }
}

/// One step of [`check_figure_orders`]: events (mostly received and sent
/// DMs; some of the other kinds, which make accounts without a figure),
/// minutes the clock moves on before they are delivered, and whether the
/// accounts page is looked at afterwards.
type Step = (Vec<Spec>, u16, bool);

/// DMs of six accounts over two days, delivered in steps over up to a day
/// (gaps past half an hour included, so the figures are sometimes caught up
/// a window at a time and sometimes rebuilt).
fn figure_steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (
            prop::collection::vec(
                (
                    prop_oneof![3 => 0u8..2, 1 => 2u8..8],
                    0u8..6,
                    0u8..3,
                    0u16..(2 * 24 * 60),
                ),
                1..6,
            ),
            0u16..70,
            any::<bool>(),
        ),
        1..24,
    )
}

/// The orders by a figure, both ways.
const FIGURE_ORDERS: [(app::model::AccountSort, bool); 8] = {
    use app::model::AccountSort::{Received, Reply, Sent, Waiting};
    [
        (Received, false),
        (Received, true),
        (Sent, false),
        (Sent, true),
        (Waiting, false),
        (Waiting, true),
        (Reply, false),
        (Reply, true),
    ]
};

/// Delivers `steps` to two stores on one database in turn, the clock starting
/// ten hours before the newest events and moving on as the steps say; when a
/// step says so, and after the last one, the accounts page in every order by
/// a figure (caught up by the other store) lists every account, in the order
/// of the figures it shows (read from the per-account rows at that moment):
/// a figure the catch-up missed would put a row out of place.
fn check_figure_orders(backend: Backend, steps: Vec<Step>) -> Result<(), TestCaseError> {
    use app::model::{AccountRow, AccountSort, AccountsQuery};

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let url = database_url(backend, &dir).await;
        let stores = [
            Store::open(&url).await.unwrap(),
            Store::open(&url).await.unwrap(),
        ];
        let mut clock = NOW - 10 * 60 * MINUTE_MS;
        let mut index = 0;
        let last = steps.len() - 1;
        for (step, (specs, minutes, look)) in steps.into_iter().enumerate() {
            clock += i64::from(minutes) * MINUTE_MS;
            let items: Vec<(String, String)> = specs
                .into_iter()
                .map(|spec| {
                    index += 1;
                    item(index, spec)
                })
                .collect();
            let body = delivery(&items.iter().collect::<Vec<_>>());
            let events = payload::parse(body.as_bytes(), clock).unwrap();
            stores[step % 2].ingest(events, clock).await.unwrap();
            if !look && step != last {
                continue;
            }
            for (sort, descending) in FIGURE_ORDERS {
                let query = AccountsQuery {
                    sort,
                    descending,
                    ..AccountsQuery::default()
                };
                let page = stores[(step + 1) % 2]
                    .accounts_page(clock, &query, &THRESHOLDS)
                    .await
                    .unwrap();
                prop_assert_eq!(page.rows.len() as i64, page.total);
                let key = |row: &AccountRow| match sort {
                    AccountSort::Received => Some(row.received_today),
                    AccountSort::Sent => Some(row.sent_today),
                    AccountSort::Waiting => Some(row.waiting),
                    _ => row.median_reply_ms,
                };
                let mut expected = page.rows.clone();
                expected.sort_by(|a, b| {
                    let by_figure = match (key(a), key(b)) {
                        (Some(x), Some(y)) if descending => y.cmp(&x),
                        (Some(x), Some(y)) => x.cmp(&y),
                        // Accounts without the figure last, either way.
                        (x, y) => y.is_some().cmp(&x.is_some()),
                    };
                    // Ties A to Z largest first, Z to A smallest first.
                    let by_id = a.account_id.cmp(&b.account_id);
                    by_figure.then(if descending { by_id } else { by_id.reverse() })
                });
                let ids = |rows: &[AccountRow]| {
                    rows.iter()
                        .map(|row| (row.account_id.clone(), key(row)))
                        .collect::<Vec<_>>()
                };
                prop_assert_eq!(
                    ids(&page.rows),
                    ids(&expected),
                    "{:?} {} at step {}",
                    sort,
                    if descending {
                        "descending"
                    } else {
                        "ascending"
                    },
                    step
                );
            }
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn on_sqlite_the_accounts_page_keeps_every_order_as_deliveries_and_time_go_by(
        steps in figure_steps(),
    ) {
        check_figure_orders(Backend::Sqlite, steps)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn on_postgres_the_accounts_page_keeps_every_order_as_deliveries_and_time_go_by(
        steps in figure_steps(),
    ) {
        check_figure_orders(Backend::Postgres, steps)?;
    }
}
