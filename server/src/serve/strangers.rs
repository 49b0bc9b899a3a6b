//! The rules for callers the node cannot trust yet: which address a request
//! is counted against, and the pause before a refusal.
//!
//! **The client address.** A request is counted against the connection's
//! peer, or, behind proxies the operator trusts, the entry they wrote into
//! `X-Forwarded-For`. Each proxy appends the address it received the request
//! from, so with `n` trusted hops the client is the `n`-th entry from the
//! right; everything to its left was written by the client and proves
//! nothing. When that entry is missing or unreadable the peer address is
//! used, never an earlier entry.

use std::{
    net::{IpAddr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use axum::http::HeaderMap;

/// How long a request refused for a stranger's reasons (a bad signature, a
/// failed handshake, a login beyond the node's password checks) waits before
/// its answer. A sender that repeats such requests as fast as they are
/// answered would otherwise keep the cores busy answering it, and Meta's
/// deliveries would wait for CPU; with the pause each of its connections
/// costs a timer, not a core. Legitimate senders never see it.
pub const REFUSAL_PAUSE: Duration = Duration::from_millis(20);

/// Waits [`REFUSAL_PAUSE`]: call before answering a refused request.
pub async fn pause_before_refusal() {
    tokio::time::sleep(REFUSAL_PAUSE).await;
}

/// The client's address for a request that reached the node from `peer`
/// through `trusted_hops` proxies.
pub fn client_address(headers: &HeaderMap, peer: SocketAddr, trusted_hops: u8) -> IpAddr {
    if trusted_hops == 0 {
        return peer.ip();
    }
    // Proxies may append to one header line or add another; both read in
    // order. Entries are split as bytes: one a client wrote with a byte
    // that is not ASCII stays an (unreadable) entry of its own and cannot
    // hide the ones the proxies wrote to its right.
    let entries: Vec<&[u8]> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| value.as_bytes().split(|byte| *byte == b','))
        .collect();
    entries
        .len()
        .checked_sub(usize::from(trusted_hops))
        .and_then(|index| std::str::from_utf8(entries[index]).ok())
        .and_then(|entry| parse_entry(entry.trim()))
        .unwrap_or(peer.ip())
}

/// One `X-Forwarded-For` entry: an address, possibly with a port
/// (`192.0.2.1:443`, `[2001:db8::1]:443`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(address) = entry.parse::<IpAddr>() {
        return Some(address);
    }
    entry.parse::<SocketAddr>().ok().map(|address| address.ip())
}

/// The part of an address that one client controls: an IPv4 address whole,
/// an IPv6 address by its /64 (one customer's network usually gets a whole
/// /64, so counting single IPv6 addresses would give a guesser 2^64 of them).
pub fn throttle_prefix(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{}/64", Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

/// The network an address is in, as far as one party usually holds it
/// whole: an IPv4 /24, an IPv6 /48 (a site's usual allocation: 65,536 /64s).
pub fn throttle_network(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => network_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network_v4(v4),
            None => {
                let [a, b, c, ..] = v6.segments();
                format!("{}/48", Ipv6Addr::new(a, b, c, 0, 0, 0, 0, 0))
            }
        },
    }
}

fn network_v4(v4: std::net::Ipv4Addr) -> String {
    let [a, b, c, _] = v4.octets();
    format!("{a}.{b}.{c}.0/24")
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn forwarded(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_static(value));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_entry_is_taken_exactly_that_many_hops_from_the_right() {
        let peer: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let headers = forwarded(&["203.0.113.9, 198.51.100.4", "192.0.2.77"]);
        assert_eq!(client_address(&headers, peer, 0), peer.ip(), "untrusted");
        assert_eq!(client_address(&headers, peer, 1), ip("192.0.2.77"));
        assert_eq!(client_address(&headers, peer, 2), ip("198.51.100.4"));
        assert_eq!(client_address(&headers, peer, 3), ip("203.0.113.9"));
    }

    #[test]
    fn a_missing_or_unreadable_entry_falls_back_to_the_peer_never_to_a_client_written_one() {
        let peer: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        assert_eq!(client_address(&HeaderMap::new(), peer, 1), peer.ip());
        let too_few = forwarded(&["198.51.100.4"]);
        assert_eq!(client_address(&too_few, peer, 2), peer.ip());
        let garbage = forwarded(&["203.0.113.9, not-an-address"]);
        assert_eq!(
            client_address(&garbage, peer, 1),
            peer.ip(),
            "not the client-written 203.0.113.9"
        );
    }

    #[test]
    fn a_byte_that_is_not_ascii_in_a_client_written_entry_hides_nothing_to_its_right() {
        let peer: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"caf\xe9, 198.51.100.4").unwrap(),
        );
        assert_eq!(client_address(&headers, peer, 1), ip("198.51.100.4"));
        assert_eq!(
            client_address(&headers, peer, 2),
            peer.ip(),
            "unreadable: the peer"
        );
    }

    #[test]
    fn networks_are_ipv4_24s_and_ipv6_48s() {
        assert_eq!(throttle_network(ip("192.0.2.7")), "192.0.2.0/24");
        assert_eq!(throttle_network(ip("::ffff:192.0.2.7")), "192.0.2.0/24");
        assert_eq!(throttle_network(ip("2001:db8:1:2::1")), "2001:db8:1::/48");
    }

    #[test]
    fn ports_are_stripped() {
        let peer: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let headers = forwarded(&["[2001:db8::7]:443, 198.51.100.4:8080"]);
        assert_eq!(client_address(&headers, peer, 1), ip("198.51.100.4"));
        assert_eq!(client_address(&headers, peer, 2), ip("2001:db8::7"));
    }

    #[test]
    fn ipv6_addresses_are_throttled_by_their_64_bit_prefix() {
        assert_eq!(throttle_prefix(ip("192.0.2.7")), "192.0.2.7");
        assert_eq!(throttle_prefix(ip("::ffff:192.0.2.7")), "192.0.2.7");
        assert_eq!(
            throttle_prefix(ip("2001:db8:1:2:aaaa::1")),
            throttle_prefix(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_eq!(
            throttle_prefix(ip("2001:db8:1:2:aaaa::1")),
            "2001:db8:1:2::/64"
        );
        assert_ne!(
            throttle_prefix(ip("2001:db8:1:2::1")),
            throttle_prefix(ip("2001:db8:1:3::1"))
        );
    }
}
