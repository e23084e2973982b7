//! The target table: which services a process runs. `all` is every service
//! in one process (one port, in-process calls); a comma list such as `auth`
//! runs just those, one Deployment per service.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    Auth,
    Llm,
    Ocr,
    Documents,
    Web,
}

impl Service {
    pub const ALL: &'static [Service] = &[
        Service::Auth,
        Service::Llm,
        Service::Ocr,
        Service::Documents,
        Service::Web,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Service::Auth => "auth",
            Service::Llm => "llm",
            Service::Ocr => "ocr",
            Service::Documents => "documents",
            Service::Web => "web",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A parsed `--target` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets(pub BTreeSet<Service>);

impl Targets {
    pub fn all() -> Self {
        Self(Service::ALL.iter().copied().collect())
    }

    pub fn contains(&self, s: Service) -> bool {
        self.0.contains(&s)
    }

    /// Whether this process answers `/auth/introspect`: it runs auth while a
    /// service that checks API keys (llm, ocr, documents) runs elsewhere and
    /// asks over HTTP. With all of them here (`all`) they ask in-process,
    /// and the route, which answers anyone, is not mounted.
    pub fn serves_introspection(&self) -> bool {
        let checkers = [Service::Llm, Service::Ocr, Service::Documents];
        self.contains(Service::Auth) && !checkers.iter().all(|s| self.contains(*s))
    }
}

impl FromStr for Targets {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut set = BTreeSet::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "all" {
                set.extend(Service::ALL.iter().copied());
                continue;
            }
            let service = Service::ALL
                .iter()
                .copied()
                .find(|svc| svc.name() == part)
                .ok_or_else(|| {
                    let known: Vec<_> = Service::ALL.iter().map(|s| s.name()).collect();
                    format!("unknown target '{part}' (known: all, {})", known.join(", "))
                })?;
            set.insert(service);
        }
        if set.is_empty() {
            return Err("no target given".into());
        }
        Ok(Self(set))
    }
}

impl fmt::Display for Targets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.0.iter().map(|s| s.name()).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_all() {
        assert_eq!("all".parse::<Targets>().unwrap(), Targets::all());
        assert!("auth".parse::<Targets>().unwrap().contains(Service::Auth));
        let split: Targets = "ocr".parse().unwrap();
        assert!(split.contains(Service::Ocr) && !split.contains(Service::Auth));
        assert!("auth,nope".parse::<Targets>().is_err());
        assert!("".parse::<Targets>().is_err());
    }

    #[test]
    fn introspection_is_served_only_to_services_elsewhere() {
        assert!(!Targets::all().serves_introspection());
        assert!(!"auth,llm,ocr,documents"
            .parse::<Targets>()
            .unwrap()
            .serves_introspection());
        assert!("auth,llm,ocr"
            .parse::<Targets>()
            .unwrap()
            .serves_introspection());
        assert!("auth".parse::<Targets>().unwrap().serves_introspection());
        assert!("auth,ocr,web"
            .parse::<Targets>()
            .unwrap()
            .serves_introspection());
        assert!(!"ocr,llm".parse::<Targets>().unwrap().serves_introspection());
    }
}
