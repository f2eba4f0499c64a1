//! Which scenario files a suite runs: files, directories and globs expanded, then
//! `--tags` / `--exclude-tags`, then `--shard K/N`.
use std::path::{Path, PathBuf};

/// A path argument that names more than one file (or may): a directory or a glob.
pub fn is_collection(arg: &Path) -> bool {
    arg.is_dir() || has_glob(arg)
}

fn has_glob(arg: &Path) -> bool {
    arg.to_string_lossy().chars().any(|c| matches!(c, '*' | '?' | '['))
}

/// Expands the arguments into files, in the order given; a directory's and a glob's files
/// sorted by path. A file named twice is kept once. Errors name the argument that matched
/// nothing, so a typo never shrinks a suite silently.
pub fn expand(args: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out: Vec<PathBuf> = vec![];
    let push = |p: PathBuf, out: &mut Vec<PathBuf>| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    for arg in args {
        if arg.is_dir() {
            let mut found = vec![];
            walk(arg, &mut found, 0);
            found.retain(|p| is_scenario_file(p));
            found.sort();
            if found.is_empty() {
                return Err(format!(
                    "directory {} holds no scenario (a YAML file with `phases:`)",
                    arg.display()
                ));
            }
            found.into_iter().for_each(|p| push(p, &mut out));
        } else if has_glob(arg) && !arg.exists() {
            let pattern = arg.to_string_lossy();
            let paths = glob::glob(&pattern).map_err(|e| format!("bad glob `{pattern}`: {e}"))?;
            let mut found: Vec<PathBuf> = paths.filter_map(Result::ok).filter(|p| p.is_file()).collect();
            found.sort();
            if found.is_empty() {
                return Err(format!("glob `{pattern}` matches no file"));
            }
            found.into_iter().for_each(|p| push(p, &mut out));
        } else {
            // A plain file is always taken: loading it says what is wrong with it.
            push(arg.clone(), &mut out);
        }
    }
    Ok(out)
}

/// Directories nest at most this deep: a link loop must not walk forever.
const MAX_DEPTH: usize = 16;

/// Hidden entries are skipped: a Kubernetes ConfigMap volume keeps its files twice, as
/// links at the top and in a hidden `..<timestamp>` directory. A link to a file counts (the
/// top-level links of that volume); a link to a directory is not followed.
fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let Ok(kind) = e.file_type() else { continue };
        let is_yaml = p.extension().is_some_and(|x| x == "yaml" || x == "yml");
        if kind.is_dir() && depth < MAX_DEPTH {
            walk(&p, out, depth + 1);
        } else if is_yaml && (kind.is_file() || (kind.is_symlink() && p.is_file())) {
            out.push(p);
        }
    }
}

/// A scenario, not a fragment, vars file or readiness spec: a top-level `phases:` key.
/// Read cheaply (the line, not a parse): the file is loaded properly later.
pub fn is_scenario_file(p: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(p) else { return false };
    if meta.len() > 8 * 1024 * 1024 {
        return true; // let the loader refuse it with its own message
    }
    std::fs::read_to_string(p).is_ok_and(|t| t.lines().any(|l| l.starts_with("phases:")))
}

/// `--tags` keeps a scenario with any of them; `--exclude-tags` drops one with any of them.
pub fn tags_match(tags: &[String], include: &[String], exclude: &[String]) -> bool {
    let has = |list: &[String]| list.iter().any(|t| tags.iter().any(|x| x == t.trim()));
    (include.is_empty() || has(include)) && !has(exclude)
}

/// `K/N`, 1 <= K <= N.
pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("--shard `{s}` must be K/N with 1 <= K <= N (e.g. 2/4)");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (usize, usize) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// Slice K of N: sorted by path, dealt round-robin. Every shard of the same list gets a
/// disjoint part, and together they cover it, whatever machine computes them.
pub fn shard<T: Clone>(items: &[(PathBuf, T)], k: usize, n: usize) -> Vec<(PathBuf, T)> {
    let mut sorted: Vec<&(PathBuf, T)> = items.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted.into_iter().enumerate().filter(|(i, _)| i % n == k - 1).map(|(_, x)| x.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_disjoint_and_cover_the_list() {
        let items: Vec<(PathBuf, ())> =
            ["d", "a", "c", "b", "e"].iter().map(|s| (PathBuf::from(s), ())).collect();
        let all: Vec<Vec<PathBuf>> =
            (1..=3).map(|k| shard(&items, k, 3).into_iter().map(|x| x.0).collect()).collect();
        assert_eq!(all[0], [PathBuf::from("a"), PathBuf::from("d")]);
        assert_eq!(all[1], [PathBuf::from("b"), PathBuf::from("e")]);
        assert_eq!(all[2], [PathBuf::from("c")]);
        // The order given does not matter: another machine computes the same slices.
        let mut rev = items.clone();
        rev.reverse();
        assert_eq!(shard(&rev, 1, 3).into_iter().map(|x| x.0).collect::<Vec<_>>(), all[0]);
    }

    #[test]
    fn shard_syntax() {
        assert_eq!(parse_shard("2/4"), Ok((2, 4)));
        for bad in ["0/4", "5/4", "1", "a/b", "1/0"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags() {
        let t = vec!["ha".to_string(), "slow".to_string()];
        assert!(tags_match(&t, &[], &[]));
        assert!(tags_match(&t, &["ha".into()], &[]));
        assert!(!tags_match(&t, &["quorum".into()], &[]));
        assert!(!tags_match(&t, &["ha".into()], &["slow".into()]));
        assert!(!tags_match(&[], &["ha".into()], &[]));
    }

    #[test]
    fn directories_yield_scenarios_not_fragments_and_globs_must_match() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("sub/fragments")).unwrap();
        std::fs::write(d.path().join("b.yaml"), "scenario: b\nphases: []\n").unwrap();
        std::fs::write(d.path().join("sub/a.yml"), "phases:\n  - name: x\n").unwrap();
        std::fs::write(d.path().join("sub/fragments/f.yaml"), "fragments: {}\n").unwrap();
        std::fs::write(d.path().join("notes.txt"), "phases:\n").unwrap();
        let got = expand(&[d.path().to_path_buf()]).unwrap();
        assert_eq!(got, [d.path().join("b.yaml"), d.path().join("sub/a.yml")]);
        let glob = d.path().join("*.yaml");
        assert_eq!(expand(&[glob]).unwrap(), [d.path().join("b.yaml")]);
        assert!(expand(&[d.path().join("*.nothing")]).unwrap_err().contains("matches no file"));
        assert!(expand(&[d.path().join("sub/fragments")]).unwrap_err().contains("holds no scenario"));
    }

    /// A ConfigMap volume: `x.yaml -> ..data/x.yaml`, `..data -> ..2026_01_01/`.
    #[test]
    fn a_configmap_volume_yields_each_scenario_once() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("..2026_01_01")).unwrap();
        std::fs::write(d.path().join("..2026_01_01/x.yaml"), "phases: []\n").unwrap();
        std::os::unix::fs::symlink("..2026_01_01", d.path().join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/x.yaml", d.path().join("x.yaml")).unwrap();
        assert_eq!(expand(&[d.path().to_path_buf()]).unwrap(), [d.path().join("x.yaml")]);
    }
}
