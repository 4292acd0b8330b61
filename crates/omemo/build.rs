//! Compiles the libomemo-c test harness, only when the `libomemo-c-interop` feature is on.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    #[cfg(feature = "libomemo-c-interop")]
    {
        println!("cargo::rerun-if-changed=tests/libomemo_c/shim.c");
        cc::Build::new()
            .file("tests/libomemo_c/shim.c")
            .include("/usr/include/omemo")
            .warnings(true)
            .compile("tern_omemo_c_shim");
        println!("cargo::rustc-link-lib=omemo-c");
        println!("cargo::rustc-link-lib=crypto");
    }
}
