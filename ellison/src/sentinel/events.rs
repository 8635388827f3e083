//! Sentinel pub/sub events: which channels Ellison listens to and what each one means for a
//! master. An event is only ever a reason to look again, never the truth about the master.

/// Channels subscribed on every Sentinel.
pub const CHANNELS: &[&str] = &[
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The Sentinels began replacing the master: stop sending commands to it at once.
    FailoverStarted,
    /// Something about the master changed: evaluate again now.
    Changed,
}

/// Classifies a message on `channel`, or `None` if it concerns another master.
pub fn classify(channel: &str, message: &str, master_name: &str) -> Option<EventKind> {
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
        || channel == "+selected-slave"
        || channel.starts_with("+failover-state-");
    Some(if started {
        EventKind::FailoverStarted
    } else {
        EventKind::Changed
    })
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
        assert_eq!(check("+new-epoch", "7"), Some(EventKind::Changed));
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
