//! deploy/: the Kubernetes manifests and CI files, validated offline (no cluster, no CI
//! service exists here): kubernetes-validate (the Kubernetes OpenAPI schemas, strict),
//! check-jsonschema with its vendored GitHub workflow and GitLab CI schemas, yamllint, and
//! the policies the files promise (least privilege, no retry, a deadline). Each validator
//! also gets a broken copy that it must refuse (negative controls). scripts/setup.sh
//! installs the three PyPI tools.
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tool(name: &str, args: &[&str], files: &[PathBuf]) -> (bool, String) {
    let o = Command::new(name)
        .args(args)
        .args(files)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{name}: {e} (scripts/setup.sh installs it with pip)"));
    (
        o.status.success(),
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)),
    )
}

fn manifests() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("deploy/kubernetes"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    v.sort();
    v
}

#[test]
fn kubernetes_manifests_are_valid_and_a_broken_one_is_refused() {
    let files = manifests();
    assert!(files.len() >= 7, "{files:?}");
    let (ok, out) = tool("kubernetes-validate", &["--strict", "--no-warn"], &files);
    assert!(ok, "{out}");
    // Negative control: a misspelt field in the Job.
    let tmp = tempfile::tempdir().unwrap();
    let job = std::fs::read_to_string(root().join("deploy/kubernetes/job.yaml")).unwrap();
    let bad = tmp.path().join("job.yaml");
    std::fs::write(&bad, job.replace("backoffLimit: 0", "backofLimit: 0")).unwrap();
    let (ok, out) = tool("kubernetes-validate", &["--strict", "--no-warn"], &[bad]);
    assert!(!ok, "a misspelt field passed: {out}");
}

const POLICY: &str = r#"
import sys, yaml, re
docs = {}
for f in sys.argv[1:]:
    for d in yaml.safe_load_all(open(f)):
        docs[d["kind"]] = d
job, role, cm = docs["Job"], docs["Role"], docs["ConfigMap"]
spec = job["spec"]
assert spec["backoffLimit"] == 0, "the Job must never retry"
pod = spec["template"]["spec"]
assert pod["restartPolicy"] == "Never"
assert pod["serviceAccountName"] == docs["ServiceAccount"]["metadata"]["name"]
c = pod["containers"][0]
assert c["args"][0] == "run" and "--out" in c["args"], c["args"]
assert c["securityContext"]["readOnlyRootFilesystem"] and not c["securityContext"]["allowPrivilegeEscalation"]
# activeDeadlineSeconds = the scenarios' timeouts + the teardown budget (2m) + 60 s.
def secs(t):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", str(t))
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]
total = 0
for name, text in cm["data"].items():
    sc = yaml.safe_load(text)
    total += secs(sc.get("timeout", "30m")) + secs(sc.get("defaults", {}).get("teardown_timeout", "2m"))
assert spec["activeDeadlineSeconds"] == total + 60, (spec["activeDeadlineSeconds"], total + 60)
for r in role["rules"]:
    for k in ("apiGroups", "resources", "verbs", "resourceNames"):
        assert r.get(k) and "*" not in r[k], f"rule {r}: {k} must be listed, never *"
    assert set(r["verbs"]) <= {"get", "patch", "update"}, r
for name, text in cm["data"].items():
    open(sys.argv[0] + "." + name, "w").write(text)
    print(sys.argv[0] + "." + name)
"#;

#[test]
fn kubernetes_manifests_keep_their_promises() {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("policy");
    let o = Command::new("python3")
        .arg("-c")
        .arg(POLICY.replace("sys.argv[0] + \".\"", &format!("{:?} + \".\"", script.to_string_lossy())))
        .args(manifests())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The ConfigMap's scenarios are valid scenarios.
    let files: Vec<String> = String::from_utf8_lossy(&o.stdout).lines().map(String::from).collect();
    assert!(!files.is_empty());
    let o = Command::new(env!("CARGO_BIN_EXE_testrunner")).arg("check").args(&files).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn ci_files_are_valid_and_shard_the_suite() {
    let gh = root().join("deploy/ci/github-actions.yml");
    let gl = root().join("deploy/ci/gitlab-ci.yml");
    let (ok, out) =
        tool("check-jsonschema", &["--builtin-schema", "vendor.github-workflows"], std::slice::from_ref(&gh));
    assert!(ok, "{out}");
    let (ok, out) =
        tool("check-jsonschema", &["--builtin-schema", "vendor.gitlab-ci"], std::slice::from_ref(&gl));
    assert!(ok, "{out}");
    let (ok, out) = tool("yamllint", &["-s", "-c", "deploy/.yamllint.yaml", "deploy/"], &[]);
    assert!(ok, "{out}");
    let gh_text = std::fs::read_to_string(&gh).unwrap();
    assert!(gh_text.contains("--shard ${{ matrix.shard }}/3") && gh_text.contains("shard: [1, 2, 3]"));
    assert!(
        gh_text.contains("--junit junit/shard-${{ matrix.shard }}.xml")
            && gh_text.contains("report_paths: junit/*.xml")
    );
    let gl_text = std::fs::read_to_string(&gl).unwrap();
    assert!(
        gl_text.contains("--shard \"${CI_NODE_INDEX}/${CI_NODE_TOTAL}\"")
            && gl_text.contains("junit: junit/shard-*.xml")
    );
    // Negative controls: a job without `runs-on`, a GitLab job with a misspelt keyword.
    let tmp = tempfile::tempdir().unwrap();
    let bad_gh = tmp.path().join("gh.yml");
    std::fs::write(&bad_gh, gh_text.replacen("runs-on:", "run-on:", 1)).unwrap();
    let (ok, _) = tool("check-jsonschema", &["--builtin-schema", "vendor.github-workflows"], &[bad_gh]);
    assert!(!ok, "a workflow job without runs-on passed");
    let bad_gl = tmp.path().join("gl.yml");
    std::fs::write(&bad_gl, gl_text.replace("  script:", "  scripts:")).unwrap();
    let (ok, _) = tool("check-jsonschema", &["--builtin-schema", "vendor.gitlab-ci"], &[bad_gl]);
    assert!(!ok, "a GitLab job without script passed");
}
