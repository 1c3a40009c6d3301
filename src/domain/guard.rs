//! The destination guard: deliveries go to public addresses only, unless the operator
//! opens more (`--allow-private-targets`, `--allow-target CIDR`).
//!
//! The check is made on the *resolved* addresses (by `connect`), and the connection is
//! made to exactly the addresses that passed: there is no window in which a second DNS
//! answer could point the request elsewhere.

use std::net::IpAddr;

use ipnet::IpNet;

/// Ranges that are not on the public internet (RFC 6890 and friends).
const NON_PUBLIC: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    // IPv4-compatible (deprecated; covers :: and ::1).
    "::/96",
    // NAT64 and local-use NAT64, 6to4 and Teredo: they carry an IPv4 address that a
    // gateway may turn into a private one.
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "2002::/16",
    "2001::/32",
    "100::/64",
    "2001:db8::/32",
    "fc00::/7",
    // Site-local (deprecated) and link-local.
    "fec0::/10",
    "fe80::/10",
    "ff00::/8",
];

/// Which destination addresses deliveries may reach.
#[derive(Debug, Clone)]
pub struct Guard {
    allow_private: bool,
    allowed: Vec<IpNet>,
    non_public: Vec<IpNet>,
}

/// A destination refused by the guard; its text is the attempt's status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("blocked: {0} is not a public address")]
pub struct Blocked(pub IpAddr);

impl Guard {
    pub fn new(allow_private: bool, allowed: Vec<IpNet>) -> Self {
        Guard {
            allow_private,
            allowed,
            non_public: NON_PUBLIC
                .iter()
                .map(|net| net.parse().expect("the table holds valid networks"))
                .collect(),
        }
    }

    /// Whether a delivery may connect to `address`.
    pub fn permits(&self, address: IpAddr) -> bool {
        // An IPv4 address written as IPv6 (::ffff:a.b.c.d) is judged as IPv4.
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        self.allow_private
            || self.allowed.iter().any(|net| net.contains(&address))
            || !self.non_public.iter().any(|net| net.contains(&address))
    }

    /// # Errors
    /// [`Blocked`] when `address` may not be reached.
    pub fn check(&self, address: IpAddr) -> Result<(), Blocked> {
        if self.permits(address) {
            Ok(())
        } else {
            Err(Blocked(address))
        }
    }

    /// Why deliveries to `url` will be blocked, when that is known without asking DNS: its
    /// host is an address the guard refuses, or `localhost` (RFC 6761: always loopback).
    /// Other names are judged when a delivery resolves them (its status then says
    /// `blocked`).
    pub fn warning_for(&self, url: &str) -> Option<String> {
        let host = url::Url::parse(url).ok()?.host()?.to_owned();
        let address: IpAddr = match &host {
            url::Host::Ipv4(address) => (*address).into(),
            url::Host::Ipv6(address) => (*address).into(),
            url::Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name != "localhost" && !name.ends_with(".localhost") {
                    return None;
                }
                IpAddr::from([127, 0, 0, 1])
            }
        };
        if self.permits(address) {
            return None;
        }
        let network = self
            .non_public
            .iter()
            .find(|net| net.contains(&address))
            .map_or_else(|| address.to_string(), ToString::to_string);
        Some(format!(
            "deliveries to {host} will be blocked: it is not a public address; start the \
             server with --allow-target {network} (or --allow-private-targets) to reach it"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    const PRIVATE: &[&str] = &[
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "100.64.0.1",
        "::1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::",
        "::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::a00:1",
        "2002:7f00:1::1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "fec0::1",
    ];

    #[test]
    fn urls_known_to_be_blocked_get_a_warning_naming_the_way_to_allow_them() {
        let guard = Guard::new(false, Vec::new());
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://api.LOCALHOST./hook",
            "http://[::1]/",
            "https://10.1.2.3/",
        ] {
            let warning = guard.warning_for(url).unwrap_or_else(|| panic!("{url}"));
            assert!(warning.contains("--allow-target"), "{warning}");
        }
        let warning = guard.warning_for("http://127.0.0.1:9000/hook").unwrap();
        assert!(warning.contains("127.0.0.0/8"), "{warning}");
        for url in [
            "https://example.com/hook",
            "http://93.184.216.34/",
            "not a url",
        ] {
            assert_eq!(guard.warning_for(url), None, "{url}");
        }
        let allowed = Guard::new(false, vec!["127.0.0.0/8".parse().unwrap()]);
        assert_eq!(allowed.warning_for("http://localhost:8080/"), None);
        assert_eq!(
            Guard::new(true, Vec::new()).warning_for("http://10.0.0.1/"),
            None
        );
    }

    #[test]
    fn non_public_addresses_are_blocked_by_default() {
        let guard = Guard::new(false, Vec::new());
        for address in PRIVATE {
            assert_eq!(
                guard.check(ip(address)),
                Err(Blocked(ip(address))),
                "{address}"
            );
        }
        for address in ["8.8.8.8", "1.1.1.1", "172.32.0.1", "2606:4700::1111"] {
            assert!(guard.permits(ip(address)), "{address}");
        }
        assert_eq!(
            Blocked(ip("10.0.0.1")).to_string(),
            "blocked: 10.0.0.1 is not a public address"
        );
    }

    #[test]
    fn operators_can_open_them() {
        let all = Guard::new(true, Vec::new());
        assert!(PRIVATE.iter().all(|address| all.permits(ip(address))));
        let some = Guard::new(
            false,
            vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
        );
        assert!(some.permits(ip("10.9.9.9")));
        assert!(some.permits(ip("::1")));
        assert!(!some.permits(ip("192.168.0.1")));
        assert!(!some.permits(ip("127.0.0.1")));
    }
}
