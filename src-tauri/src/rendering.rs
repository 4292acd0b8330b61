//! How the web view draws on Linux.
//!
//! WebKitGTK composites the page with OpenGL. Without a GPU, Mesa provides
//! OpenGL in software (llvmpipe): every scrolled frame is then rasterised
//! twice on the CPU, frames take 30–70 ms instead of 16, and the page keeps
//! tens of megabytes of software textures. WebKit's own CPU painting is
//! faster there, so Tern asks for it when the machine has no GPU render
//! node. Someone who sets `WEBKIT_DISABLE_COMPOSITING_MODE` themselves
//! (to `0` or `1`) keeps their choice.

/// The environment variable WebKitGTK reads.
pub const DISABLE_COMPOSITING: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";

/// True when none of the names in `/dev/dri` is a GPU render node
/// (`renderD128`, ...), i.e. OpenGL would run in software.
pub fn software_only<I, S>(dri_entries: I) -> bool
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    !dri_entries
        .into_iter()
        .any(|name| name.as_ref().starts_with("renderD"))
}

/// Chooses CPU painting when there is no GPU. Call first thing in `main`,
/// before any thread exists (it sets an environment variable that the web
/// view's processes inherit).
pub fn choose() {
    if !cfg!(target_os = "linux") || std::env::var_os(DISABLE_COMPOSITING).is_some() {
        return;
    }
    let names: Vec<String> = std::fs::read_dir("/dev/dri")
        .map(|dir| {
            dir.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    if software_only(&names) {
        std::env::set_var(DISABLE_COMPOSITING, "1");
    }
}

/// What was chosen, for the log.
pub fn describe() -> &'static str {
    match std::env::var(DISABLE_COMPOSITING).as_deref() {
        Ok("1") => "CPU painting (no GPU render node, or asked for)",
        _ => "GPU compositing",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_render_node_means_a_gpu() {
        assert!(!software_only(["card0", "renderD128"]));
        assert!(!software_only(["by-path", "card1", "renderD129"]));
    }

    #[test]
    fn no_render_node_means_software() {
        assert!(software_only(Vec::<String>::new()));
        assert!(software_only(["card0"]));
        assert!(software_only(["by-path"]));
    }
}
