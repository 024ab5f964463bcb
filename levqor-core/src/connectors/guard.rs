//! The private-address guard of the `http` connector (SSRF protection).
//!
//! Rules: a destination is refused when any address it resolves to is
//! loopback, private, CGNAT, link-local (cloud metadata included),
//! unspecified, multicast, broadcast, reserved or documentation space, an IPv6
//! unique-local or site-local address, or an IPv6 form that embeds such an
//! IPv4 address (mapped, compatible, NAT64, 6to4) or tunnels (Teredo).
//!
//! **Invariant**: the check runs inside the agent's [`GuardResolver`], on the
//! addresses the connection will actually use, so DNS rebinding between a
//! check and the connect cannot slip through. Numeric hosts in any IPv4
//! spelling (`2130706433`, `0x7f000001`, `0177.0.0.1`) are parsed the way the
//! C library would and checked, never handed to DNS.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// Why the guard refused a destination; travels through ureq as
/// `ureq::Error::Other` and becomes a `Forbidden` connector error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("destination {host} refused: {reason}")]
pub struct GuardError {
    /// The host as written in the URL.
    pub host: String,
    /// Which rule refused it.
    pub reason: String,
}

/// The rule that forbids `ip`, or `None` when it is a public address.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let reason = match (a, b, c) {
        (0, _, _) => "unspecified/this-network address",
        (10, _, _) => "private address",
        (100, 64..=127, _) => "carrier-grade NAT address",
        (127, _, _) => "loopback address",
        (169, 254, _) => "link-local address (cloud metadata)",
        (172, 16..=31, _) => "private address",
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "reserved address",
        (192, 168, _) => "private address",
        (198, 18..=19, _) => "benchmarking address",
        (224..=239, _, _) => "multicast address",
        (240..=255, _, _) => "reserved or broadcast address",
        _ => return None,
    };
    Some(reason)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified address");
    }
    if ip.is_loopback() {
        return Some("loopback address");
    }
    let seg = ip.segments();
    let embedded_v4 =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    // ::ffff:a.b.c.d (mapped) reaches that IPv4 address: check it.
    if seg[..6] == [0, 0, 0, 0, 0, 0xffff] {
        return forbidden_v4(embedded_v4(seg[6], seg[7]));
    }
    // ::a.b.c.d (deprecated IPv4-compatible): never a legitimate destination.
    if seg[..6] == [0; 6] {
        return Some("IPv4-compatible IPv6 address");
    }
    // NAT64 well-known prefix 64:ff9b::/96: check the IPv4 it reaches.
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return forbidden_v4(embedded_v4(seg[6], seg[7]));
    }
    // 6to4 2002::/16 embeds an IPv4 in bits 16..48.
    if seg[0] == 0x2002 {
        return forbidden_v4(embedded_v4(seg[1], seg[2]));
    }
    let reason = match seg[0] {
        0x0064 if seg[1] == 0xff9b && seg[2] == 1 => "local-use NAT64 address",
        0x0100 if seg[1..4] == [0, 0, 0] => "discard-only address",
        0x2001 if seg[1] == 0 => "Teredo tunnel address",
        0x2001 if seg[1] == 0x0db8 => "documentation address",
        s if s & 0xfe00 == 0xfc00 => "unique local address",
        s if s & 0xffc0 == 0xfe80 => "link-local address",
        s if s & 0xffc0 == 0xfec0 => "site-local address",
        s if s & 0xff00 == 0xff00 => "multicast address",
        _ => return None,
    };
    Some(reason)
}

/// Parses a host the way `inet_aton` does: one to four parts separated by
/// dots, each decimal, `0x` hex or `0`-prefixed octal, the last part filling
/// the remaining bytes (`2130706433`, `0x7f.1`, `0177.0.0.1`).
pub fn parse_ipv4_loose(host: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = host.strip_suffix('.').unwrap_or(host).split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut nums = Vec::with_capacity(parts.len());
    for p in &parts {
        let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X"))
        {
            (h, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            (&p[1..], 8)
        } else {
            (*p, 10)
        };
        let n = if digits.is_empty() && radix == 16 {
            0
        } else {
            u32::from_str_radix(digits, radix).ok()?
        };
        if digits.is_empty() && radix == 10 {
            return None;
        }
        nums.push(n);
    }
    let last = nums.pop()?;
    if nums.iter().any(|&n| n > 255) {
        return None;
    }
    let rest_bytes = 4 - nums.len() as u32;
    if rest_bytes < 4 && last >= 1u32 << (8 * rest_bytes) {
        return None;
    }
    let mut value = last;
    for (i, n) in nums.iter().enumerate() {
        value |= n << (8 * (3 - i as u32));
    }
    Some(Ipv4Addr::from(value))
}

/// Hosts (`host` or `host:port`) that bypass the guard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<(String, Option<u16>)>,
}

impl AllowList {
    /// Builds the list from `LEVQOR_HTTP_ALLOW_HOSTS` entries.
    pub fn new(entries: &[String]) -> Self {
        let entries = entries
            .iter()
            .map(|e| {
                let e = e.trim().to_ascii_lowercase();
                match e.rsplit_once(':') {
                    Some((h, p)) if !h.ends_with(':') && p.parse::<u16>().is_ok() => {
                        (h.trim_matches(['[', ']']).to_string(), p.parse().ok())
                    }
                    _ => (e.trim_matches(['[', ']']).to_string(), None),
                }
            })
            .collect();
        AllowList { entries }
    }

    /// Whether `host:port` is trusted.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        self.entries
            .iter()
            .any(|(h, p)| *h == host && p.is_none_or(|p| p == port))
    }
}

/// Checks every resolved address of `host`; `Ok` only when all are public.
///
/// # Errors
/// [`GuardError`] naming the first forbidden rule hit.
pub fn check_addrs<'a>(
    host: &str,
    addrs: impl IntoIterator<Item = &'a SocketAddr>,
) -> Result<(), GuardError> {
    for a in addrs {
        if let Some(reason) = forbidden_reason(a.ip()) {
            return Err(GuardError {
                host: host.to_string(),
                reason: reason.to_string(),
            });
        }
    }
    Ok(())
}

/// A ureq resolver that resolves, then refuses forbidden addresses; the
/// connection is made to exactly the addresses it checked.
#[derive(Debug, Default)]
pub struct GuardResolver {
    allow: AllowList,
    inner: DefaultResolver,
}

impl GuardResolver {
    /// A resolver trusting `allow`.
    pub fn new(allow: AllowList) -> Self {
        GuardResolver {
            allow,
            inner: DefaultResolver::default(),
        }
    }
}

impl Resolver for GuardResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_string();
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        let numeric = host
            .parse::<IpAddr>()
            .ok()
            .or_else(|| parse_ipv4_loose(&host).map(IpAddr::V4));
        let addrs = match numeric {
            Some(ip) => {
                let mut v = self.inner.empty();
                v.push(SocketAddr::new(ip, port));
                v
            }
            None => self.inner.resolve(uri, config, timeout)?,
        };
        if !self.allow.allows(&host, port) {
            check_addrs(&host, addrs.iter()).map_err(|e| ureq::Error::Other(Box::new(e)))?;
        }
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(s: &str) -> bool {
        forbidden_reason(s.parse().unwrap()).is_some()
    }

    #[test]
    fn classifies_addresses() {
        for bad in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "ff02::1",
            "2001:db8::1",
        ] {
            assert!(forbidden(bad), "{bad} should be forbidden");
        }
        for good in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.0.1",
            "172.32.0.1",
            "100.63.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::",
        ] {
            assert!(!forbidden(good), "{good} should be allowed");
        }
    }

    #[test]
    fn parses_loose_ipv4_forms() {
        let lo = Some(Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(parse_ipv4_loose("2130706433"), lo);
        assert_eq!(parse_ipv4_loose("0x7f000001"), lo);
        assert_eq!(parse_ipv4_loose("0177.0.0.1"), lo);
        assert_eq!(parse_ipv4_loose("127.1"), lo);
        assert_eq!(parse_ipv4_loose("0x7f.0.0.1"), lo);
        assert_eq!(parse_ipv4_loose("127.0.0.1"), lo);
        assert_eq!(parse_ipv4_loose("example.com"), None);
        assert_eq!(parse_ipv4_loose("1.2.3.4.5"), None);
        assert_eq!(parse_ipv4_loose("256.0.0.1"), None);
        assert_eq!(parse_ipv4_loose("08.0.0.1"), None);
        assert_eq!(parse_ipv4_loose(""), None);
    }

    #[test]
    fn allow_list_matches_host_and_port() {
        let a = AllowList::new(&[
            "127.0.0.1:8080".into(),
            "Internal.Example".into(),
            "[::1]:9".into(),
        ]);
        assert!(a.allows("127.0.0.1", 8080));
        assert!(!a.allows("127.0.0.1", 8081));
        assert!(a.allows("internal.example", 1));
        assert!(a.allows("[::1]", 9));
        assert!(!a.allows("::1", 10));
    }
}
