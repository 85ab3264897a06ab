//! Where deliveries may go: never to loopback, link-local, private, unique-local, CGNAT,
//! multicast, unspecified or reserved addresses (nor to IPv4 ones embedded in IPv6) unless
//! `QRSCENE_WEBHOOK_ALLOW_PRIVATE=true`.
//!
//! The check is made on the addresses the client actually connects to: a resolver of our own
//! drops the refused ones (and fails when none is left), so a name that resolves to a public
//! address when the webhook is made and to a private one at delivery time (DNS rebinding)
//! is refused at delivery time. IP literals in a URL never reach a resolver: the runner
//! checks them before sending ([`refused_literal`]). No proxy from the environment (it would
//! connect for us, past the check) and no redirects (a public URL answering 307 to an
//! internal one).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::WebhookSettings;

/// Whether deliveries must not go to `ip`.
pub fn is_refused(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()          // 0.0.0.0
        || a == 0                // 0.0.0.0/8: "this network"
        || ip.is_loopback()      // 127.0.0.0/8
        || ip.is_private()       // 10/8, 172.16/12, 192.168/16
        || ip.is_link_local()    // 169.254/16 (cloud metadata services)
        || (a == 100 && (b & 0xc0) == 64) // 100.64/10: carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // 192.0.0/24: IETF protocol assignments
        || (a == 198 && (b & 0xfe) == 18) // 198.18/15: benchmarking
        || ip.is_multicast()     // 224/4
        || a >= 240 // 240/4 reserved, and the broadcast address
}

fn refused_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        // ::ffff:a.b.c.d
        return refused_v4(v4);
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        // ::a.b.c.d (IPv4-compatible, deprecated)
        return refused_v4(Ipv4Addr::from(ip.to_bits() as u32));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // 64:ff9b::/96, NAT64: the embedded IPv4 address decides.
        return refused_v4(Ipv4Addr::from(ip.to_bits() as u32));
    }
    ip.is_unspecified()                  // ::
        || ip.is_loopback()              // ::1
        || ip.is_multicast()             // ff00::/8
        || (s[0] & 0xfe00) == 0xfc00     // fc00::/7 unique local
        || (s[0] & 0xffc0) == 0xfe80     // fe80::/10 link-local
        || (s[0] & 0xffc0) == 0xfec0 // fec0::/10 site-local (deprecated)
}

/// Why a delivery was refused before any connection.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "refused: {host} resolves only to private, loopback, link-local or reserved addresses \
     ({addrs}); set QRSCENE_WEBHOOK_ALLOW_PRIVATE=true to allow them"
)]
pub struct Refused {
    /// The host of the URL.
    pub host: String,
    /// What it resolved to.
    pub addrs: String,
}

/// The refusal of a URL whose host is a refused IP literal, if it is one.
pub fn refused_literal(url: &reqwest::Url) -> Option<Refused> {
    let host = url.host_str()?;
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    is_refused(ip).then(|| Refused {
        host: ip.to_string(),
        addrs: ip.to_string(),
    })
}

/// The refusal behind a failed request, if it is one.
pub fn refusal(error: &(dyn std::error::Error + 'static)) -> Option<Refused> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Some(refused.clone());
        }
        current = e.source();
    }
    None
}

/// Resolves with the system's resolver and keeps only the addresses deliveries may reach.
#[derive(Debug, Clone, Copy, Default)]
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|a| !is_refused(a.ip()))
                .collect();
            if allowed.is_empty() {
                let addrs = resolved
                    .iter()
                    .map(|a| a.ip().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(Box::new(Refused { host, addrs }) as _);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client of deliveries: the guarded resolver (unless private addresses are
/// allowed), no proxy, no redirects, a connect timeout and a whole-request timeout.
///
/// # Errors
/// The TLS stack cannot be set up.
pub fn client(settings: &WebhookSettings) -> reqwest::Result<reqwest::Client> {
    crate::wechat::client::install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(8)
        .user_agent(concat!("qrscene-webhooks/", env!("CARGO_PKG_VERSION")));
    if !settings.allow_private {
        builder = builder.dns_resolver(Arc::new(GuardedResolver));
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> bool {
        is_refused(s.parse().unwrap())
    }

    #[test]
    fn internal_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "192.0.0.8",
            "198.18.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
        ] {
            assert!(refused(ip), "{ip} must be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.169.0.1",
            "198.20.0.1",
            "223.255.255.255",
            "2001:4860:4860::8888",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
        ] {
            assert!(!refused(ip), "{ip} must be allowed");
        }
    }

    #[test]
    fn ip_literals_in_urls_are_checked() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(refused_literal(&url("http://127.0.0.1:9000/hook")).is_some());
        assert!(refused_literal(&url("http://[::1]/hook")).is_some());
        assert!(refused_literal(&url("http://[::ffff:192.168.0.1]/")).is_some());
        assert!(refused_literal(&url("https://8.8.8.8/")).is_none());
        assert!(
            refused_literal(&url("https://localhost/")).is_none(),
            "names go to the resolver"
        );
    }

    #[tokio::test]
    async fn the_resolver_drops_refused_addresses() {
        let err = match GuardedResolver.resolve("localhost".parse().unwrap()).await {
            Ok(_) => panic!("localhost must be refused"),
            Err(e) => e,
        };
        let refusal = refusal(err.as_ref()).expect("a refusal");
        assert_eq!(refusal.host, "localhost");
        assert!(
            refusal
                .to_string()
                .contains("QRSCENE_WEBHOOK_ALLOW_PRIVATE")
        );
    }
}
