//! Arbitrary bytes as client input: `scan_command` frame after frame, under default and tiny
//! limits, with every frame's prefixes, extensions and arguments checked
//! (`ellison_fuzz::check_commands`).
#![no_main]

use ellison::resp::Limits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ellison_fuzz::check_commands(data, &Limits::default());
    ellison_fuzz::check_commands(data, &ellison_fuzz::TINY);
});
