//! state.json loading: any bytes give a state or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vrun_runtime::state::check_state_bytes(data);
});
