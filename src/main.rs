//! The binary: a thin shell over `fapi_harness::cli`.

fn main() {
    std::process::exit(fapi_harness::cli::main());
}
