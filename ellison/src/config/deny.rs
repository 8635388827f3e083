//! The deny list: the commands clients may not run through Ellison (`deny_commands`,
//! `deny_commands_extra`), sorted once and checked by every session without allocating.

use std::cmp::Ordering;
use std::fmt;

/// One entry of the deny list: a command, or a command with one subcommand. Uppercase.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct DenyRule {
    command: String,
    subcommand: Option<String>,
}

impl fmt::Display for DenyRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.subcommand {
            Some(sub) => write!(f, "{} {}", self.command, sub),
            None => f.write_str(&self.command),
        }
    }
}

/// The commands clients may not run through Ellison, as a sorted list that a session checks
/// with a binary search and no allocation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct DenyList {
    /// Sorted, deduplicated; a whole-command rule sorts before that command's subcommand rules.
    rules: Vec<DenyRule>,
    /// A prefilter that lets almost every allowed command through without a search: bit
    /// `len - 1` of slot `first byte & 31` is set for each rule's command (names are at most
    /// 64 bytes). The slot ignores ASCII case, so it never rejects a command a rule names.
    filter: [u64; 32],
}

/// The default `deny_commands`; ellison.example.toml says why each is there.
pub(crate) const DEFAULT_DENY_COMMANDS: &[&str] = &[
    "REPLICAOF",
    "SLAVEOF",
    "FAILOVER",
    "SHUTDOWN",
    "SYNC",
    "PSYNC",
    "REPLCONF",
    "CLUSTER",
    "DEBUG",
    "MODULE",
    "SAVE",
    "CONFIG SET",
    "CONFIG REWRITE",
    "CLIENT PAUSE",
    "CLIENT KILL",
    "ACL SETUSER",
    "ACL DELUSER",
    "ACL LOAD",
    "ACL SAVE",
];

impl DenyList {
    /// [`DEFAULT_DENY_COMMANDS`].
    pub(crate) fn safe_default() -> DenyList {
        // The default list is valid, as the unit tests check.
        DenyList::parse(DEFAULT_DENY_COMMANDS).unwrap_or_default()
    }

    /// Parses entries such as `"FLUSHALL"`, `"config set"` or `"CONFIG|SET"`. Empty entries
    /// are skipped (so that `--deny-commands ""` means none). On error: the entry's index and
    /// why.
    pub(crate) fn parse<S: AsRef<str>>(entries: &[S]) -> Result<DenyList, (usize, String)> {
        let mut rules = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let entry = entry.as_ref();
            let words: Vec<&str> = entry
                .split(|c: char| c.is_whitespace() || c == '|')
                .filter(|w| !w.is_empty())
                .collect();
            let valid = |w: &str| {
                w.len() <= 64
                    && w.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            };
            let rule = match words.as_slice() {
                [] => continue,
                [command] if valid(command) => DenyRule {
                    command: command.to_ascii_uppercase(),
                    subcommand: None,
                },
                [command, sub] if valid(command) && valid(sub) => DenyRule {
                    command: command.to_ascii_uppercase(),
                    subcommand: Some(sub.to_ascii_uppercase()),
                },
                [_] | [_, _] => {
                    return Err((i, format!("{entry:?} is not a command name")));
                }
                _ => {
                    return Err((
                        i,
                        format!("{entry:?} has more than two words (use \"COMMAND\" or \"COMMAND SUBCOMMAND\")"),
                    ));
                }
            };
            rules.push(rule);
        }
        Ok(DenyList::from_rules(rules))
    }

    /// This list and `more`'s rules together (`deny_commands_extra` on top of the base list).
    pub(crate) fn with(&self, more: &DenyList) -> DenyList {
        DenyList::from_rules(self.rules.iter().chain(&more.rules).cloned().collect())
    }

    fn from_rules(mut rules: Vec<DenyRule>) -> DenyList {
        rules.sort();
        rules.dedup();
        let mut filter = [0u64; 32];
        for rule in &rules {
            let name = rule.command.as_bytes();
            filter[usize::from(name[0] & 31)] |= 1 << (name.len() - 1);
        }
        DenyList { rules, filter }
    }

    /// The rule that denies this command, if any. `command` and `subcommand` (the command's
    /// first argument, if it has one) are compared without regard to case.
    pub(crate) fn check(&self, command: &[u8], subcommand: Option<&[u8]>) -> Option<&DenyRule> {
        let slot = self.filter[usize::from(*command.first()? & 31)];
        if command.len() > 64 || slot & (1 << (command.len() - 1)) == 0 {
            return None;
        }
        let start = self
            .rules
            .partition_point(|r| cmp_upper(r.command.as_bytes(), command) == Ordering::Less);
        self.rules[start..]
            .iter()
            .take_while(|r| cmp_upper(r.command.as_bytes(), command) == Ordering::Equal)
            .find(|r| match (&r.subcommand, subcommand) {
                (None, _) => true,
                (Some(want), Some(got)) => want.as_bytes().eq_ignore_ascii_case(got),
                (Some(_), None) => false,
            })
    }

    /// True when nothing is denied.
    pub(crate) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules, sorted.
    pub(crate) fn rules(&self) -> &[DenyRule] {
        &self.rules
    }
}

/// Compares an uppercase name with a name in any case, as if both were uppercase.
fn cmp_upper(upper: &[u8], any: &[u8]) -> Ordering {
    upper
        .iter()
        .copied()
        .cmp(any.iter().map(|b| b.to_ascii_uppercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_deny_list() {
        let deny = DenyList::safe_default();
        assert_eq!(deny.rules().len(), DEFAULT_DENY_COMMANDS.len());
        for denied in [
            &["replicaof", "no", "one"][..],
            &["SlaveOf", "10.0.0.1", "6379"],
            &["SHUTDOWN", "NOSAVE"],
            &["failover"],
            &["cluster", "info"],
            &["config", "set", "dir", "/tmp"],
            &["CONFIG", "REWRITE"],
            &["acl", "setuser", "x"],
            &["DEBUG", "SLEEP", "1"],
            &["psync", "?", "-1"],
            &["save"],
            &["client", "pause", "1000"],
            &["CLIENT", "KILL", "TYPE", "replica"],
        ] {
            let rule = deny.check(denied[0].as_bytes(), denied.get(1).map(|s| s.as_bytes()));
            assert!(rule.is_some(), "{denied:?} not denied");
        }
        for allowed in [
            &["GET", "k"][..],
            &["config", "get", "maxmemory"],
            &["CONFIG"],
            &["acl", "whoami"],
            &["client", "setname", "x"],
            &["CLIENT", "UNPAUSE"],
            &["MONITOR"],
            &["FLUSHDB"],
            &["BGSAVE"],
            &["SAVEX"],
            &["C"],
            &["ZZZZZZZZ"],
        ] {
            let rule = deny.check(allowed[0].as_bytes(), allowed.get(1).map(|s| s.as_bytes()));
            assert!(rule.is_none(), "{allowed:?} denied by {rule:?}");
        }
        assert_eq!(
            deny.check(b"config", Some(b"Set")).unwrap().to_string(),
            "CONFIG SET"
        );
    }

    #[test]
    fn the_deny_prefilter_never_lets_a_denied_name_through() {
        let long = "x".repeat(64);
        let deny = DenyList::parse(&["a", "9lives", "_under", long.as_str(), "k-v"]).unwrap();
        for name in ["A", "a", "9LIVES", "_UNDER", long.as_str(), "K-V", "k-V"] {
            assert!(deny.check(name.as_bytes(), None).is_some(), "{name}");
        }
        let longer = "x".repeat(65);
        for name in ["", "b", "9live", "[UNDER", longer.as_str(), "k-w"] {
            assert!(deny.check(name.as_bytes(), None).is_none(), "{name}");
        }
    }
}
