//! The process' log output: one line per event, plain or JSON, with a filter that a reload
//! replaces.
//!
//! Lines are for files and collectors as much as for terminals: ANSI colour codes only when
//! standard output (where lines go) is a terminal and `NO_COLOR` is not set, and never a raw
//! line break inside a line. A
//! field's value can carry one from outside (a path with a newline in an error, a peer's
//! message): plain lines escape every control character of a field (`\n`, `\r`, `\u{1b}`),
//! JSON lines are escaped by JSON itself.

use std::fmt;
use std::io::IsTerminal;

use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter};

use crate::config::LogFormat;
use crate::LogReload;

/// Installs the global subscriber, writing to standard output; returns how to swap its filter
/// on reload. `Err` names what is wrong with the filter.
pub fn init(format: LogFormat, filter: &str) -> Result<LogReload, String> {
    let filter = EnvFilter::try_new(filter).map_err(|e| e.to_string())?;
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Plain => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(colour())
                    .fmt_fields(OneLine),
            )
            .init(),
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json())
            .init(),
    }
    Ok(Box::new(move |directives: &str| {
        let filter = EnvFilter::try_new(directives).map_err(|e| e.to_string())?;
        handle.reload(filter).map_err(|e| e.to_string())
    }))
}

/// Colour codes only for a person at a terminal who did not ask for none (`NO_COLOR`).
fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Formats fields as the default plain format does (`message key=value ...`), with every
/// control character but a tab escaped, so that a field cannot break or forge a line.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct OneLine;

impl<'writer> FormatFields<'writer> for OneLine {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut line = String::new();
        DefaultFields::new().format_fields(Writer::new(&mut line), fields)?;
        write_escaped(&mut writer, &line)
    }
}

/// Writes `text` with `\n`, `\r` and other control characters (but tabs) escaped.
fn write_escaped(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    for c in text.chars() {
        match c {
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_char(c)?,
            c if c.is_control() => write!(out, "\\u{{{:x}}}", u32::from(c))?,
            c => out.write_char(c)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn control_characters_are_escaped() {
        let mut out = String::new();
        write_escaped(&mut out, "a\nb\r\nc\td\u{1b}[31me\u{7f}").unwrap();
        assert_eq!(out, "a\\nb\\r\\nc\td\\u{1b}[31me\\u{7f}");
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A message, a field and a span field with line breaks still make one line each.
    #[test]
    fn an_event_with_line_breaks_is_one_line() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .fmt_fields(OneLine)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("group", group = %"two\nlines");
            let _entered = span.enter();
            let error = "cannot read /tmp/a\nb: not found";
            tracing::error!(error = %error, "reload\nrejected");
            tracing::info!("after");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].contains("group{group=two\\nlines}"),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains("reload\\nrejected"), "{}", lines[0]);
        assert!(
            lines[0].contains("error=cannot read /tmp/a\\nb: not found"),
            "{}",
            lines[0]
        );
        assert!(lines[1].ends_with("after"), "{}", lines[1]);
    }
}
