//! config.json loading and validation: any bytes give a spec or a clear error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vrun_runtime::bundle::check_config_bytes(data);
});
