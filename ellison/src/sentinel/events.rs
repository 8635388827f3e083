//! Sentinel pub/sub events: which channels Ellison listens to and what each one means for a
//! master. An event is a reason to look again, never the truth about the master: even the
//! replica a failover leader selects is only routed to once it answers `ROLE master` itself.

use crate::config::Endpoint;

/// Channels subscribed on every Sentinel.
pub(crate) const CHANNELS: &[&str] = &[
    "+switch-master",
    "+sdown",
    "-sdown",
    "+odown",
    "-odown",
    "+new-epoch",
    "+try-failover",
    "+elected-leader",
    "+failover-state-select-slave",
    "+selected-slave",
    "+failover-state-send-slaveof-noone",
    "+failover-state-wait-promotion",
    "+promoted-slave",
    "+failover-state-reconf-slaves",
    "+failover-end",
    "+failover-end-for-timeout",
    "-failover-abort-not-elected",
    "-failover-abort-no-good-slave",
    "-failover-abort-slave-timeout",
    "-failover-abort-master-promotion-timeout",
    "+config-update-from",
    "+reset-master",
    "+convert-to-slave",
    "+role-change",
];

/// What an event asks of the tracker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EventKind {
    /// The Sentinels began replacing the master: stop sending commands to it at once.
    FailoverStarted,
    /// The Sentinel that published this leads a failover and chose this replica to promote
    /// (`+selected-slave`); a failover event like the others, and where to look for the
    /// promotion before the Sentinels announce it.
    Selected(Endpoint),
    /// A failover was given up (`-failover-abort-*`): whatever it promoted is not the master.
    Aborted,
    /// The Sentinel that published this entered a new epoch (`+new-epoch`): the epoch of the
    /// failover it is about to lead, if it leads one.
    NewEpoch(u64),
    /// Something about the master changed: evaluate again now.
    Changed,
}

/// Classifies a message on `channel`, or `None` if it concerns another master.
pub(crate) fn classify(channel: &str, message: &str, master_name: &str) -> Option<EventKind> {
    let words: Vec<&str> = message.split_ascii_whitespace().collect();
    let about_us = match channel {
        // `<name> <old ip> <old port> <new ip> <new port>`
        "+switch-master" => words.first() == Some(&master_name),
        // `<epoch>`: names no master, but a new epoch anywhere is worth a look.
        "+new-epoch" => true,
        // `master <name> <ip> <port>` or `<type> <name> <ip> <port> @ <master> <ip> <port>`
        _ => match words.iter().position(|w| *w == "@") {
            Some(at) => words.get(at + 1) == Some(&master_name),
            None => words.first() == Some(&"master") && words.get(1) == Some(&master_name),
        },
    };
    if !about_us {
        return None;
    }
    let started = channel == "+try-failover"
        || channel == "+elected-leader"
        || channel == "+promoted-slave"
        || channel.starts_with("+failover-state-");
    Some(match channel {
        // `slave <ip>:<port> <ip> <port> @ <master> <ip> <port>`
        "+selected-slave" => match (words.get(2), words.get(3).map(|p| p.parse::<u16>())) {
            (Some(host), Some(Ok(port))) => EventKind::Selected(Endpoint {
                host: (*host).to_owned(),
                port,
            }),
            _ => EventKind::FailoverStarted,
        },
        "+new-epoch" => match words.first().map(|e| e.parse::<u64>()) {
            Some(Ok(epoch)) => EventKind::NewEpoch(epoch),
            _ => EventKind::Changed,
        },
        _ if channel.starts_with("-failover-abort-") => EventKind::Aborted,
        _ if started => EventKind::FailoverStarted,
        _ => EventKind::Changed,
    })
}

impl EventKind {
    /// Whether the event means the master is being replaced, so that commands must stop
    /// going to it at once.
    pub(crate) fn starts_failover(&self) -> bool {
        matches!(self, EventKind::FailoverStarted | EventKind::Selected(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_about_our_master_are_recognised() {
        let check = |channel, message| classify(channel, message, "mymaster");
        assert_eq!(
            check("+try-failover", "master mymaster 127.0.0.1 6379"),
            Some(EventKind::FailoverStarted)
        );
        assert_eq!(
            check(
                "+promoted-slave",
                "slave 127.0.0.1:6380 127.0.0.1 6380 @ mymaster 127.0.0.1 6379"
            ),
            Some(EventKind::FailoverStarted)
        );
        assert_eq!(
            check("+switch-master", "mymaster 127.0.0.1 6379 127.0.0.1 6380"),
            Some(EventKind::Changed)
        );
        assert_eq!(
            check("+odown", "master mymaster 127.0.0.1 6379 #quorum 2/2"),
            Some(EventKind::Changed)
        );
        assert_eq!(check("+new-epoch", "7"), Some(EventKind::NewEpoch(7)));
        assert_eq!(check("+new-epoch", "x"), Some(EventKind::Changed));
        assert_eq!(
            check(
                "+selected-slave",
                "slave 10.0.0.2:6380 10.0.0.2 6380 @ mymaster 10.0.0.1 6379"
            ),
            Some(EventKind::Selected(
                Endpoint::parse("10.0.0.2:6380").unwrap()
            ))
        );
        assert_eq!(
            check(
                "+selected-slave",
                "slave redis-1.redis:6379 redis-1.redis 6379 @ mymaster redis-0.redis 6379"
            ),
            Some(EventKind::Selected(
                Endpoint::parse("redis-1.redis:6379").unwrap()
            ))
        );
        assert_eq!(
            check(
                "-failover-abort-slave-timeout",
                "master mymaster 10.0.0.1 6379"
            ),
            Some(EventKind::Aborted)
        );
    }

    #[test]
    fn events_about_other_masters_are_ignored() {
        let check = |channel, message| classify(channel, message, "mymaster");
        assert_eq!(check("+try-failover", "master other 127.0.0.1 6379"), None);
        assert_eq!(
            check("+switch-master", "other 127.0.0.1 6379 127.0.0.1 6380"),
            None
        );
        assert_eq!(
            check(
                "+sdown",
                "slave 127.0.0.1:6380 127.0.0.1 6380 @ other 127.0.0.1 6379"
            ),
            None
        );
        assert_eq!(check("+sdown", "master mymaster2 127.0.0.1 6379"), None);
    }
}
