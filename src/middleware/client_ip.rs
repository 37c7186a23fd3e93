//! The client's IP address, the identity of anonymous callers (API.md §5).
//!
//! `X-Forwarded-For` is only believed when the TCP peer is a trusted proxy
//! (`TRUSTED_PROXIES`); from anyone else the header is ignored, so a client cannot choose its
//! own identity. Behind trusted proxies the header is read from the right, where the proxies
//! appended what they saw:
//!
//! - with `TRUSTED_PROXY_HOPS = n > 0`, the client is the n-th entry from the right (on Render,
//!   n = 2: Cloudflare's edge appends the client, Render's proxy appends the edge);
//! - otherwise, the first entry from the right that is not itself a trusted proxy.
//!
//! The left-most entry, which tower_governor's `SmartIpKeyExtractor` would take, is whatever the
//! client sent, so it is never used on its own.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::Response,
};
use ipnet::IpNet;

/// The resolved client address, in the request extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Which peers are trusted and how many hops they add.
#[derive(Debug, Clone, Default)]
pub struct ProxyTrust {
    /// Trusted proxy networks.
    pub nets: Vec<IpNet>,
    /// Proxy hops appending to `X-Forwarded-For` (0: walk past trusted addresses instead).
    pub hops: usize,
}

impl ProxyTrust {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client address for a connection from `peer` carrying `forwarded_for` headers.
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl Iterator<Item = &'a str>,
    ) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        // Entries the client wrote itself sit left of those the proxies appended; only the
        // entry the chain vouches for decides. Junk there (a proxy never appends junk, so the
        // client forged it) is counted under one shared address, never as the proxy itself,
        // whose bucket would be a fresh allowance.
        let hops: Vec<Option<IpAddr>> = forwarded_for
            .flat_map(|h| h.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<IpAddr>().ok().map(canonical))
            .collect();
        if hops.is_empty() {
            return peer;
        }
        if self.hops > 0 {
            return hops
                .len()
                .checked_sub(self.hops)
                .map_or(Some(peer), |i| hops[i])
                .unwrap_or(UNREADABLE);
        }
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) if self.trusts(*ip) => continue,
                Some(ip) => return *ip,
                None => return UNREADABLE,
            }
        }
        hops.first().copied().flatten().unwrap_or(UNREADABLE)
    }
}

/// The address of every client whose forwarded address cannot be read: one shared bucket.
pub const UNREADABLE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) as plain IPv4, so one client has one key.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// Resolves the client address and stores it as [`ClientIp`].
pub async fn resolve(
    State(trust): State<std::sync::Arc<ProxyTrust>>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip());
    let headers = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    let ip = trust.client_ip(peer, headers);
    req.extensions_mut().insert(ClientIp(ip));
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn trust(nets: &[&str], hops: usize) -> ProxyTrust {
        ProxyTrust {
            nets: nets.iter().map(|n| n.parse().expect("net")).collect(),
            hops,
        }
    }

    #[test]
    fn an_untrusted_peer_cannot_pick_its_identity() {
        let t = trust(&["10.0.0.0/8"], 0);
        assert_eq!(
            t.client_ip(ip("203.0.113.9"), ["1.2.3.4"].into_iter()),
            ip("203.0.113.9")
        );
        assert_eq!(
            trust(&[], 2).client_ip(ip("203.0.113.9"), ["1.2.3.4, 5.6.7.8"].into_iter()),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_first_untrusted_hop_from_the_right_is_the_client() {
        let t = trust(&["10.0.0.0/8", "192.0.2.0/24"], 0);
        // The client sent a spoofed entry; the proxies appended the real address and themselves.
        let xff = ["6.6.6.6, 198.51.100.7, 192.0.2.10"];
        assert_eq!(
            t.client_ip(ip("10.1.2.3"), xff.into_iter()),
            ip("198.51.100.7")
        );
        assert_eq!(
            t.client_ip(ip("10.1.2.3"), std::iter::empty()),
            ip("10.1.2.3"),
            "no header: the peer"
        );
        assert_eq!(
            t.client_ip(ip("10.1.2.3"), ["not an ip"].into_iter()),
            UNREADABLE,
            "garbage where the client should be: the shared bucket, never the proxy's"
        );
        assert_eq!(
            t.client_ip(
                ip("10.1.2.3"),
                ["junk, 198.51.100.7, 192.0.2.10"].into_iter()
            ),
            ip("198.51.100.7"),
            "garbage left of the client: ignored"
        );
    }

    #[test]
    fn a_hop_count_takes_the_nth_entry_from_the_right() {
        // Render: client → Cloudflare edge → Render proxy (the peer) → us.
        let t = trust(&["10.0.0.0/8"], 2);
        assert_eq!(
            t.client_ip(ip("10.0.0.5"), ["198.51.100.7, 104.16.0.1"].into_iter()),
            ip("198.51.100.7")
        );
        assert_eq!(
            t.client_ip(
                ip("10.0.0.5"),
                ["6.6.6.6, 198.51.100.7, 104.16.0.1"].into_iter()
            ),
            ip("198.51.100.7"),
            "spoofed prefix ignored"
        );
        assert_eq!(
            t.client_ip(
                ip("10.0.0.5"),
                ["<script>, 198.51.100.7, 104.16.0.1"].into_iter()
            ),
            ip("198.51.100.7"),
            "junk prefix ignored"
        );
        assert_eq!(
            t.client_ip(ip("10.0.0.5"), ["junk, 104.16.0.1"].into_iter()),
            UNREADABLE,
            "junk where the client should be: the shared bucket"
        );
        assert_eq!(
            t.client_ip(ip("10.0.0.5"), ["104.16.0.1"].into_iter()),
            ip("10.0.0.5"),
            "too short: the peer"
        );
    }

    #[test]
    fn mapped_ipv6_addresses_are_plain_ipv4() {
        let t = trust(&[], 0);
        assert_eq!(
            t.client_ip(ip("::ffff:203.0.113.9"), std::iter::empty()),
            ip("203.0.113.9")
        );
    }
}
