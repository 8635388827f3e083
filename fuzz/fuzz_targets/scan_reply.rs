//! Arbitrary bytes as upstream replies: `scan_reply` frame after frame, under default and tiny
//! limits, and `value::parse` on every frame and remainder, which must agree with the scan
//! (`ellison_fuzz::check_replies`).
#![no_main]

use ellison::resp::Limits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ellison_fuzz::check_replies(data, &Limits::default());
    ellison_fuzz::check_replies(data, &ellison_fuzz::TINY);
});
