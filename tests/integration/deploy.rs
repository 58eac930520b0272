//! What `deploy/` ships: the systemd unit and the configuration it runs, exercised with the real
//! binary as the unit would run it (its `ExecStart` command, a SIGHUP for `systemctl reload`, a
//! SIGTERM for `systemctl stop`), and the unit checked by `systemd-analyze verify`.

use crate::root;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const UNIT: &str = "deploy/taskgate.service";
const CONFIG: &str = "deploy/taskgate.toml";
/// Where the unit installs the binary, the configuration and the state directory.
const INSTALLED_BIN: &str = "/usr/local/bin/taskgate";
const INSTALLED_CONFIG: &str = "/etc/taskgate/taskgate.toml";
const STATE_DIR: &str = "/var/lib/taskgate";

fn unit() -> String {
    std::fs::read_to_string(root().join(UNIT)).expect("the unit file")
}

/// The value of `key=` in the unit (the first one).
fn setting(unit: &str, key: &str) -> Option<String> {
    unit.lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .map(str::to_owned)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("taskgate-deploy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The shipped configuration with its state directory moved to `dir` and its addresses to free
/// loopback ports, written to `dir/taskgate.toml`.
fn installed_config(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join(CONFIG)).expect("the shipped configuration");
    assert!(text.contains(STATE_DIR), "the store is not in {STATE_DIR}");
    let text = text
        .replace(STATE_DIR, &dir.display().to_string())
        .replace("\"0.0.0.0:8080\"", "\"127.0.0.1:0\"")
        .replace("\"127.0.0.1:9464\"", "\"127.0.0.1:0\"");
    let path = dir.join("taskgate.toml");
    std::fs::write(&path, text).expect("config");
    path
}

fn kill(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{signal}");
}

#[test]
fn the_unit_runs_the_shipped_configuration_reloads_it_and_stops_cleanly() {
    let unit = unit();
    let exec = setting(&unit, "ExecStart").expect("ExecStart");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some(INSTALLED_BIN), "{exec}");
    let dir = scratch("run");
    let config = installed_config(&dir);
    // The unit's own arguments, with the installed configuration's path pointing at the copy.
    let args: Vec<String> = words
        .map(|word| match word {
            INSTALLED_CONFIG => config.display().to_string(),
            other => other.to_owned(),
        })
        .collect();
    assert!(
        args.iter().any(|a| *a == config.display().to_string()),
        "{exec}"
    );
    assert_eq!(
        setting(&unit, "ExecReload").as_deref(),
        Some("/bin/kill -HUP $MAINPID")
    );
    assert_eq!(setting(&unit, "KillSignal").as_deref(), Some("SIGTERM"));
    assert_eq!(
        setting(&unit, "StateDirectory").as_deref(),
        Some("taskgate"),
        "the store's directory is the unit's state directory"
    );

    let stderr = dir.join("stderr.log");
    let mut child = Command::new(crate::cli::bin())
        .args(&args)
        // The shipped configuration reads its secrets from the environment.
        .env(
            "TASKGATE_ALIBABA_SECRET",
            "alibaba-secret-from-the-environment",
        )
        .env("TASKGATE_AWS_SECRET", "aws-secret-from-the-environment")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("spawn taskgate");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let log = || std::fs::read_to_string(&stderr).unwrap_or_default();
    let listening = rx.recv_timeout(Duration::from_secs(20));
    assert!(
        listening
            .as_deref()
            .is_ok_and(|l| l.starts_with("listening on http://127.0.0.1:")),
        "{listening:?}: {}",
        log()
    );
    assert!(
        dir.join("taskgate-state.redb").exists(),
        "the embedded store is not in the state directory"
    );

    // systemctl reload: the file is read and validated again.
    kill("HUP", child.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    let reloaded = "configuration reloaded";
    while !log().contains(reloaded) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert!(log().contains(reloaded), "not reloaded: {}", log());
    assert!(child.try_wait().expect("try_wait").is_none(), "{}", log());
    // Secrets never reach the log.
    assert!(!log().contains("from-the-environment"), "{}", log());

    // systemctl stop: SIGTERM, exit 0 well within TimeoutStopSec.
    let stop_within: u64 = setting(&unit, "TimeoutStopSec")
        .and_then(|s| s.parse().ok())
        .expect("TimeoutStopSec");
    kill("TERM", child.id());
    let deadline = Instant::now() + Duration::from_secs(stop_within);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "still running after SIGTERM");
        thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}: {}", log());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn systemd_accepts_the_unit_without_a_warning() {
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        // Not a systemd machine: the unit's commands are still run by the test above.
        eprintln!("systemd-analyze is not installed: the unit is not verified here");
        return;
    };
    assert!(version.status.success());
    let dir = scratch("verify");
    // The unit as installed, with its binary where this build put it (verify checks it exists).
    let bin = crate::cli::bin();
    let text = unit().replace(INSTALLED_BIN, &bin.display().to_string());
    let path = dir.join("taskgate.service");
    std::fs::write(&path, text).expect("unit copy");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze verify");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    // Unknown keys and bad values are warnings on stderr, not a failing status.
    assert!(said.trim().is_empty(), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}
