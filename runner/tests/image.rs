//! The testrunner image, built here without a registry (scripts/build-testrunner-image.sh,
//! from this build's binaries), runs the shipped scenarios/examples/http-probe.yaml inside
//! a container against a server on the host's loopback; a closed port is the negative
//! control. Needs the Docker daemon (scripts/setup.sh starts it).
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

/// A minimal HTTP server on 127.0.0.1 answering 200 to every request, until the test ends.
fn serve() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    port
}

fn docker_run(image: &str, out: &Path, args: &[&str]) -> std::process::Output {
    // As the owner of the output directory, so the run can write there and we can read it.
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(out).unwrap();
    let user = format!("{}:{}", meta.uid(), meta.gid());
    Command::new("docker")
        .args(["run", "--rm", "--network", "host", "--user", &user, "-v"])
        .arg(format!("{}:/out", out.display()))
        .arg(image)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_image_runs_a_shipped_scenario_against_a_loopback_service() {
    let bin_dir: PathBuf = Path::new(env!("CARGO_BIN_EXE_testrunner")).parent().unwrap().to_path_buf();
    assert!(bin_dir.join("halab").is_file(), "build halab first: cargo build --workspace --bins");
    let image = Image(format!("testrunner-test:{}", std::process::id()));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let o = Command::new(root.join("scripts/build-testrunner-image.sh"))
        .arg(&image.0)
        .env("BIN_DIR", &bin_dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    let tmp = tempfile::tempdir().unwrap();
    // What the image holds besides testrunner.
    for (entry, arg, want) in [
        ("/usr/local/bin/halab", "--version", "halab"),
        ("/usr/local/bin/psql", "--version", "psql (PostgreSQL)"),
    ] {
        let o = Command::new("docker")
            .args(["run", "--rm", "--entrypoint", entry, &image.0, arg])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&o.stdout).contains(want),
            "{entry}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    let port = serve();
    let url = format!("url=http://127.0.0.1:{port}/");
    let probe = "/scenarios/examples/http-probe.yaml";
    let o = docker_run(
        &image.0,
        tmp.path(),
        &["run", probe, "--var", &url, "--no-baseline", "--out", "/out/pass"],
    );
    let log = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{log}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("pass/report.json")).unwrap()).unwrap();
    assert_eq!(report["verdict"], "PASS", "{report}");

    // Negative control: nothing listens on the port.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("url=http://127.0.0.1:{closed}/");
    let o = docker_run(
        &image.0,
        tmp.path(),
        &["run", probe, "--var", &url, "--no-baseline", "--out", "/out/fail"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
}
