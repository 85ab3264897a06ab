//! The client's address for the logs: the peer, unless the peer is one of
//! `QRSCENE_TRUSTED_PROXIES`; then the nearest address in `Forwarded` (RFC 7239), or else
//! `X-Forwarded-For`, that is not a trusted proxy itself. Anyone can send those headers, so
//! they are believed only from a proxy we run.

use std::net::IpAddr;

use actix_web::http::header::{FORWARDED, HeaderMap, X_FORWARDED_FOR};
use ipnet::IpNet;

/// The reverse proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

/// `QRSCENE_TRUSTED_PROXIES` holds something that is neither an IP nor a CIDR.
#[derive(Debug, thiserror::Error)]
#[error("QRSCENE_TRUSTED_PROXIES: {0:?} is neither an IP address nor a CIDR such as 10.0.0.0/8")]
pub struct ProxiesError(String);

impl TrustedProxies {
    /// Parses comma-separated IPs and CIDRs; empty trusts no proxy.
    ///
    /// # Errors
    /// An entry that is neither.
    pub fn parse(list: &str) -> Result<Self, ProxiesError> {
        let mut nets = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| ProxiesError(entry.to_owned()))?;
            nets.push(net);
        }
        Ok(Self(nets))
    }

    /// Whether `ip` is one of the proxies (an IPv4-mapped IPv6 address counts as its IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// The client of a request that came from `peer` with `headers`.
pub fn client_ip(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let mut client = peer?;
    if !trusted.contains(client) {
        return Some(client);
    }
    // Each proxy appends the address it received from: walk back from the nearest.
    for hop in forwarded_chain(headers).into_iter().rev() {
        let Some(hop) = hop else { break };
        client = hop;
        if !trusted.contains(hop) {
            break;
        }
    }
    Some(client)
}

/// The `for=` addresses of `Forwarded`, or else of `X-Forwarded-For`, farthest first;
/// `None` for an entry that is not an address (`unknown`, an obfuscated name, garbage).
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name| {
        headers
            .get_all(name)
            .map(|v| v.to_str().unwrap_or(""))
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>()
    };
    let forwarded = values(FORWARDED);
    if !forwarded.is_empty() {
        return forwarded
            .into_iter()
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| node_ip(value.trim().trim_matches('"')))
            })
            .collect();
    }
    values(X_FORWARDED_FOR).into_iter().map(node_ip).collect()
}

/// An address out of `1.2.3.4`, `1.2.3.4:80`, `[::1]`, `[::1]:80` or `::1`.
fn node_ip(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    node.parse().ok().or_else(|| {
        let (host, port) = node.rsplit_once(':')?;
        port.parse::<u16>().ok()?;
        host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
    })
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                actix_web::http::header::HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 192.168.1.7").expect("parse");
        let xff = headers(&[("x-forwarded-for", "203.0.113.9, 10.1.2.3")]);
        // From a stranger the header is a lie it may tell: the peer is the client.
        assert_eq!(
            client_ip(Some(ip("198.51.100.1")), &xff, &trusted),
            Some(ip("198.51.100.1"))
        );
        // From our proxy: the nearest address that is not one of ours.
        assert_eq!(
            client_ip(Some(ip("10.9.9.9")), &xff, &trusted),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            client_ip(Some(ip("192.168.1.7")), &xff, &trusted),
            Some(ip("203.0.113.9"))
        );
        // A client that prepends a fake address does not get past the one our proxy saw.
        let spoofed = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9")]);
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), &spoofed, &trusted),
            Some(ip("203.0.113.9"))
        );
        // No header: the proxy itself.
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), &HeaderMap::new(), &trusted),
            Some(ip("10.0.0.1"))
        );
        // Nobody trusted: always the peer.
        let none = TrustedProxies::parse("").expect("parse");
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), &xff, &none),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for_and_is_parsed_in_all_its_forms() {
        let trusted = TrustedProxies::parse("::1,127.0.0.1").expect("parse");
        let both = headers(&[
            (
                "forwarded",
                "for=\"[2001:db8::17]:4711\";proto=https, for=127.0.0.1",
            ),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(
            client_ip(Some(ip("::1")), &both, &trusted),
            Some(ip("2001:db8::17"))
        );
        let port = headers(&[("forwarded", "for=192.0.2.60:8080;by=203.0.113.43")]);
        assert_eq!(
            client_ip(Some(ip("127.0.0.1")), &port, &trusted),
            Some(ip("192.0.2.60"))
        );
        // An obfuscated hop stops the walk at the proxy that reported it.
        let hidden = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(
            client_ip(Some(ip("127.0.0.1")), &hidden, &trusted),
            Some(ip("127.0.0.1"))
        );
        // An IPv4-mapped peer is its IPv4 address.
        let xff = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            client_ip(Some(ip("::ffff:127.0.0.1")), &xff, &trusted),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn a_list_entry_that_is_not_an_address_is_refused_by_name() {
        let err = TrustedProxies::parse("10.0.0.0/8,proxy.local").expect_err("refused");
        assert!(err.to_string().contains("\"proxy.local\""), "{err}");
    }
}
