//! Replies and waiting customers, from a conversation's DMs in event order.
//!
//! A conversation's DMs, ordered by event time (at the same millisecond a
//! received DM comes before a sent one), fall into runs: a run of received
//! DMs followed by a sent DM is one reply, whose time runs from the run's
//! first DM to the sent one and which counts in the sent DM's minute. A run
//! not (yet) followed by a sent DM is a customer waiting since its first DM. A
//! sent DM after another sent DM answers nothing.
//!
//! [`follow`] applies DMs to a conversation's state in order. Ingestion uses it
//! for DMs newer than everything stored (the usual case) and, when a late DM
//! lands among stored ones, twice over the stored DMs since the last sent DM
//! before it (without and with the new DMs), so the result never depends on the
//! order or the batching in which deliveries arrive.

/// One DM of a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dm {
    /// Event time (the webhook's `timestamp`), Unix ms.
    pub at_ms: i64,
    /// Sent by the business (an echo); otherwise received from the customer.
    /// Ordered after a received DM of the same millisecond.
    pub sent: bool,
}

/// What is kept per conversation to follow its replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conversation {
    /// The latest DM in event order.
    pub last: Dm,
    /// When the customer's current wait began: the first received DM after
    /// the latest sent one; `None` when the latest DM is a sent one.
    pub waiting_since_ms: Option<i64>,
}

/// One reply: a sent DM answering the received DMs before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reply {
    /// When the reply was sent (event time, Unix ms).
    pub sent_at_ms: i64,
    /// How long the customer waited for it, in ms.
    pub waited_ms: i64,
}

/// Applies `dms` (in event order, all after `state.last`) to `state`; returns
/// the new state and the replies they make.
pub fn follow(
    mut state: Option<Conversation>,
    dms: impl IntoIterator<Item = Dm>,
) -> (Option<Conversation>, Vec<Reply>) {
    let mut replies = Vec::new();
    for dm in dms {
        let waiting_since = state.and_then(|conversation| conversation.waiting_since_ms);
        let waiting_since_ms = match (dm.sent, waiting_since) {
            (false, None) => Some(dm.at_ms),
            (false, since) => since,
            (true, Some(since)) => {
                replies.push(Reply {
                    sent_at_ms: dm.at_ms,
                    waited_ms: dm.at_ms - since,
                });
                None
            }
            (true, None) => None,
        };
        state = Some(Conversation {
            last: dm,
            waiting_since_ms,
        });
    }
    (state, replies)
}

/// Upper bounds of the reply-time histogram's buckets, in seconds: bucket `i`
/// holds times in `(BOUNDS[i-1], BOUNDS[i]]` (bucket 0 from zero), and one
/// more bucket past the last bound holds anything over 24 hours.
const BOUNDS_S: [i64; 46] = [
    1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 75, 90, 120, 150, 180, 240, 300, 420,
    600, 900, 1_200, 1_800, 2_400, 3_600, 5_400, 7_200, 10_800, 14_400, 18_000, 21_600, 28_800,
    36_000, 43_200, 50_400, 57_600, 64_800, 72_000, 79_200, 82_800, 86_400,
];

/// The histogram bucket of a reply time.
pub fn bucket_of(waited_ms: i64) -> i64 {
    BOUNDS_S.partition_point(|&bound| bound * 1000 < waited_ms) as i64
}

/// The time a bucket stands for: its upper bound in ms (the last bound for
/// the bucket of times over 24 hours).
pub fn bucket_time_ms(bucket: i64) -> i64 {
    let index = (bucket.max(0) as usize).min(BOUNDS_S.len() - 1);
    BOUNDS_S[index] * 1000
}

/// The `q` quantile (0 < q ≤ 1) of a histogram given as `(bucket, count)`
/// rows, as the bucket's time; `None` when it holds nothing.
pub fn quantile(histogram: &[(i64, i64)], q: f64) -> Option<i64> {
    let mut rows: Vec<(i64, i64)> = histogram
        .iter()
        .copied()
        .filter(|(_, count)| *count > 0)
        .collect();
    rows.sort_unstable();
    let total: i64 = rows.iter().map(|(_, count)| count).sum();
    if total == 0 {
        return None;
    }
    // The rank of the quantile among the replies, 1-based (nearest rank).
    let rank = ((q * total as f64).ceil() as i64).clamp(1, total);
    let mut seen = 0;
    for (bucket, count) in rows {
        seen += count;
        if seen >= rank {
            return Some(bucket_time_ms(bucket));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(at_ms: i64) -> Dm {
        Dm { at_ms, sent: false }
    }

    fn sent(at_ms: i64) -> Dm {
        Dm { at_ms, sent: true }
    }

    #[test]
    fn a_reply_runs_from_the_first_unanswered_dm_to_the_next_sent_one() {
        let (state, replies) = follow(
            None,
            [received(1_000), received(5_000), sent(31_000), sent(40_000)],
        );
        assert_eq!(
            replies,
            vec![Reply {
                sent_at_ms: 31_000,
                waited_ms: 30_000
            }]
        );
        assert_eq!(state.unwrap().waiting_since_ms, None);
        assert_eq!(state.unwrap().last, sent(40_000));
    }

    #[test]
    fn a_sent_dm_first_answers_nothing_and_an_unanswered_one_waits() {
        let (state, replies) = follow(None, [sent(1_000), received(2_000), received(3_000)]);
        assert!(replies.is_empty());
        assert_eq!(state.unwrap().waiting_since_ms, Some(2_000));
        // Carried on later from the stored state.
        let (state, replies) = follow(state, [sent(62_000)]);
        assert_eq!(replies[0].waited_ms, 60_000);
        assert_eq!(state.unwrap().waiting_since_ms, None);
    }

    #[test]
    fn at_the_same_millisecond_the_received_dm_comes_first() {
        let mut dms = vec![sent(7_000), received(7_000)];
        dms.sort();
        let (_, replies) = follow(None, dms);
        assert_eq!(replies[0].waited_ms, 0);
    }

    #[test]
    fn buckets_hold_their_upper_bound_and_everything_past_a_day_goes_last() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1_000), 0);
        assert_eq!(bucket_of(1_001), 1);
        assert_eq!(bucket_time_ms(bucket_of(30_000)), 30_000);
        assert_eq!(bucket_time_ms(bucket_of(29_500)), 30_000);
        assert_eq!(bucket_of(86_400_000), BOUNDS_S.len() as i64 - 1);
        assert_eq!(bucket_of(90_000_000), BOUNDS_S.len() as i64);
        assert_eq!(bucket_time_ms(BOUNDS_S.len() as i64), 86_400_000);
        assert!(BOUNDS_S.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn quantiles_take_the_nearest_rank() {
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[(3, 0)], 0.5), None);
        let thirty = bucket_of(30_000);
        let five_minutes = bucket_of(300_000);
        // Nine quick replies and one slow one.
        let histogram = [(five_minutes, 1), (thirty, 9)];
        assert_eq!(quantile(&histogram, 0.5), Some(30_000));
        assert_eq!(quantile(&histogram, 0.9), Some(30_000));
        assert_eq!(quantile(&histogram, 1.0), Some(300_000));
        assert_eq!(quantile(&[(thirty, 1)], 0.5), Some(30_000));
    }
}
