//! Programs shipped next to `testrunner` (the lab server `halab`, built by the same
//! `cargo build`) are found without a PATH change: the directory of testrunner's own
//! executable is appended to PATH, so PATH still wins and nothing shadows a system tool.
use std::ffi::OsString;
use std::path::Path;

/// PATH with `dir` appended, unless it is already on it.
pub fn with_dir(path: Option<OsString>, dir: &Path) -> OsString {
    let mut dirs: Vec<std::path::PathBuf> =
        path.as_deref().map(|p| std::env::split_paths(p).collect()).unwrap_or_default();
    if !dirs.iter().any(|d| d == dir) {
        dirs.push(dir.to_path_buf());
    }
    std::env::join_paths(dirs).unwrap_or_else(|_| path.unwrap_or_default())
}

/// Called first thing in `main`, before any thread exists (setting the environment is
/// only sound then).
pub fn install() {
    let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) else {
        return;
    };
    std::env::set_var("PATH", with_dir(std::env::var_os("PATH"), &dir));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_once_and_keeps_path_first() {
        let p = with_dir(Some("/usr/bin:/bin".into()), Path::new("/opt/tr"));
        assert_eq!(p, "/usr/bin:/bin:/opt/tr");
        assert_eq!(with_dir(Some(p.clone()), Path::new("/opt/tr")), p);
        assert_eq!(with_dir(None, Path::new("/opt/tr")), "/opt/tr");
    }
}
