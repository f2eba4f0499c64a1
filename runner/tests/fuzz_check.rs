//! Fuzz-style check of the loader: a fixed-seed corpus of mutated scenarios (line deletions,
//! key renames, type swaps, truncation, random bytes, deep nesting, includes), built from
//! the shipped scenarios. `testrunner check` must exit 0 or 3 only (never a panic, a crash or
//! a hang), each file quickly and with bounded memory. For longer runs: `fuzz/` (cargo fuzz).
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn seeds() -> Vec<String> {
    let mut out = vec![];
    for dir in ["scenarios", "scenarios/examples", "scenarios/fragments"] {
        let Ok(entries) = std::fs::read_dir(root().join(dir)) else { continue };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if p.extension().is_some_and(|e| e == "yaml") {
                out.push(std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    assert!(out.len() >= 5, "shipped scenarios not found");
    out
}

const KEYS: &[&str] = &[
    "phases",
    "steps",
    "name",
    "id",
    "until",
    "when",
    "vars",
    "include",
    "use",
    "with",
    "checks",
    "expect",
    "timeout",
    "scenario",
    "fragments",
];
const VALUES: &[&str] = &[
    "[]",
    "{}",
    "null",
    "true",
    "42",
    "-1",
    "\"${x}\"",
    "\"${\"",
    "1s",
    "\"a.b.c(\"",
    "[1, [2, {a: 3}]]",
    "&a x",
    "*a",
    "!!binary aGk=",
    "'''",
    "\"\\xff\"",
];

fn mutate(rng: &mut Rng, seed: &str, dir: &Path, n: usize) -> Vec<u8> {
    let mut lines: Vec<String> = seed.lines().map(String::from).collect();
    match n % 9 {
        0 => {
            for _ in 0..=rng.below(4) {
                if !lines.is_empty() {
                    let i = rng.below(lines.len());
                    lines.remove(i);
                }
            }
        }
        1 => {
            let i = rng.below(lines.len());
            for k in KEYS {
                if lines[i].contains(&format!("{k}:")) {
                    let other = KEYS[rng.below(KEYS.len())];
                    lines[i] = lines[i].replacen(&format!("{k}:"), &format!("{other}:"), 1);
                    break;
                }
            }
        }
        2 => {
            let i = rng.below(lines.len());
            if let Some((k, _)) = lines[i].clone().split_once(": ") {
                lines[i] = format!("{k}: {}", VALUES[rng.below(VALUES.len())]);
            }
        }
        3 => {
            let text = lines.join("\n");
            let cut = rng.below(text.len());
            let cut = (0..=cut).rev().find(|c| text.is_char_boundary(*c)).unwrap_or(0);
            return text.as_bytes()[..cut].to_vec();
        }
        4 => {
            let mut bytes = lines.join("\n").into_bytes();
            for _ in 0..=rng.below(8) {
                let i = rng.below(bytes.len());
                bytes[i] = rng.next() as u8;
            }
            return bytes;
        }
        5 => {
            let depth = 10 + rng.below(200);
            let nest = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
            lines.insert(0, format!("vars: {{ deep: {nest} }}"));
        }
        6 => {
            let chain = vec!["1"; 1 + rng.below(3000)].join("+");
            let i = rng.below(lines.len());
            lines.insert(i, format!("# {chain}"));
            lines.push(format!("checks: [{{ id: Z, expect: \"{chain} > 0\" }}]"));
        }
        7 => {
            // Includes: a self-include, a chain, a directory, a device, a path outside.
            let targets = ["s.yaml", "inc.yaml", ".", "/dev/zero", "../../x.yaml", "/etc/passwd"];
            let t = targets[rng.below(targets.len())];
            std::fs::write(dir.join("inc.yaml"), "include: [inc2.yaml, inc2.yaml]\n").unwrap();
            std::fs::write(dir.join("inc2.yaml"), "vars: { z: 1 }\n").unwrap();
            lines.insert(0, format!("include: [{t}, inc.yaml]"));
        }
        _ => {
            let i = rng.below(lines.len());
            let line = lines[i].clone();
            for _ in 0..rng.below(50) {
                lines.insert(i, line.clone());
            }
        }
    }
    lines.join("\n").into_bytes()
}

/// Each `error:` line is followed by its `file:line:col` (` --> s.yaml:3:7`).
fn every_error_has_a_position(stderr: &str) -> bool {
    let lines: Vec<&str> = stderr.lines().collect();
    lines.iter().enumerate().filter(|(_, l)| l.starts_with("error: ")).all(|(i, _)| {
        lines.get(i + 1).and_then(|l| l.trim_start().strip_prefix("--> ")).is_some_and(|loc| {
            let mut parts = loc.rsplitn(3, ':');
            let col = parts.next().is_some_and(|c| c.parse::<u32>().is_ok());
            col && parts.next().is_some_and(|l| l.parse::<u32>().is_ok())
        })
    })
}

#[test]
fn mutated_scenarios_exit_0_or_3_quickly() {
    let bin = env!("CARGO_BIN_EXE_testrunner");
    let seeds = seeds();
    let dir = std::env::temp_dir().join(format!("testrunner-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let start = Instant::now();
    let budget = Duration::from_secs(60);
    let mut ran = 0;
    let mut failures = vec![];
    for n in 0..400 {
        if start.elapsed() > budget {
            break;
        }
        let seed = &seeds[rng.below(seeds.len())];
        let bytes = mutate(&mut rng, seed, &dir, n);
        let file = dir.join("s.yaml");
        std::fs::write(&file, &bytes).unwrap();
        // Memory bounded by the kernel: a loader that grows without bound dies here
        // (and the exit status says so), instead of taking the machine down.
        let t = Instant::now();
        let mut child = Command::new("prlimit")
            .args(["--as=2000000000", "--"])
            .arg(bin)
            .arg("check")
            .arg(&file)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if t.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                break child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut stderr = String::new();
        use std::io::Read;
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        ran += 1;
        let code = status.code();
        let internal = ["panicked", "budget breached", "OtherError", "from_str_multiple", "Incomplete `"];
        if !matches!(code, Some(0) | Some(3))
            || internal.iter().any(|i| stderr.contains(i))
            || !every_error_has_a_position(&stderr)
        {
            let keep = dir.join(format!("failing-{n}.yaml"));
            std::fs::write(&keep, &bytes).unwrap();
            failures.push(format!(
                "case {n} ({}): exit {code:?} after {:?}\n{}",
                keep.display(),
                t.elapsed(),
                stderr.chars().take(800).collect::<String>()
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {ran} cases failed:\n{}", failures.len(), failures.join("\n"));
    assert!(ran >= 50, "only {ran} cases ran within {budget:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
