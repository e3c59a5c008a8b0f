//! Gives test and example binaries an rpath to libtorch (tools/cargo.sh sets LIBTORCH_LIB), and
//! records the libtorch version compiled against (read from its version header).
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=LIBTORCH_INCLUDE");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let lib_root = std::env::var("LIBTORCH_LIB")
        .or_else(|_| std::env::var("LIBTORCH"))
        .ok();
    if let Some(root) = &lib_root {
        let lib = PathBuf::from(root).join("lib");
        println!("cargo:rustc-link-arg=-Wl,--disable-new-dtags");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
    let include_root = std::env::var("LIBTORCH_INCLUDE").ok().or(lib_root);
    let mut version = String::from("unknown");
    if let Some(root) = include_root {
        let candidates = [
            "include/torch/headeronly/version.h",
            "include/torch/csrc/api/include/torch/version.h",
        ];
        for rel in candidates {
            let path = PathBuf::from(&root).join(rel);
            if let Ok(text) = std::fs::read_to_string(&path) {
                println!("cargo:rerun-if-changed={}", path.display());
                if let Some(v) = parse_version(&text) {
                    version = v;
                    break;
                }
            }
        }
    }
    println!("cargo:rustc-env=SCNYM_CORE_LIBTORCH_VERSION={version}");
}

fn parse_version(text: &str) -> Option<String> {
    let mut parts = [None, None, None];
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("#define") {
            continue;
        }
        let (Some(name), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        match name {
            "TORCH_VERSION" => {
                let v = value.trim_matches('"');
                if v.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                    return Some(v.to_string());
                }
            }
            "TORCH_VERSION_MAJOR" => parts[0] = Some(value.to_string()),
            "TORCH_VERSION_MINOR" => parts[1] = Some(value.to_string()),
            "TORCH_VERSION_PATCH" => parts[2] = Some(value.to_string()),
            _ => {}
        }
    }
    match parts {
        [Some(a), Some(b), Some(c)] => Some(format!("{a}.{b}.{c}")),
        _ => None,
    }
}
