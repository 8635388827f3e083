//! Arbitrary bytes as client input, each whole command classified as a session does; the same
//! arguments re-encoded as an array must mean the same (`ellison_fuzz::check_classify`).
#![no_main]

use ellison::resp::Limits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ellison_fuzz::check_classify(data, &Limits::default());
    ellison_fuzz::check_classify(data, &ellison_fuzz::TINY);
});
