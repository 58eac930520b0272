//! What `deploy/` ships: the systemd unit and the configuration it runs, exercised with the real
//! binary as the unit would run it (its `ExecStart` command, a SIGHUP for `systemctl reload`, a
//! SIGTERM for `systemctl stop`), and the unit checked by `systemd-analyze verify`.

use crate::root;
use crate::serve::Served;
use std::path::{Path, PathBuf};
use std::process::Command;
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

#[test]
fn the_unit_runs_the_shipped_configuration_reloads_it_and_stops_cleanly() {
    let unit = unit();
    // The unit's command is what `Served` runs: `serve --config <file>`.
    assert_eq!(
        setting(&unit, "ExecStart").as_deref(),
        Some(format!("{INSTALLED_BIN} serve --config {INSTALLED_CONFIG}").as_str())
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
    let stop_within: u64 = setting(&unit, "TimeoutStopSec")
        .and_then(|s| s.parse().ok())
        .expect("TimeoutStopSec");

    let dir = scratch("run");
    installed_config(&dir);
    // The shipped configuration reads its secrets from the environment.
    let gw = Served::launch_with_env(
        dir.clone(),
        None,
        &[
            (
                "TASKGATE_ALIBABA_SECRET",
                "alibaba-secret-from-the-environment",
            ),
            ("TASKGATE_AWS_SECRET", "aws-secret-from-the-environment"),
        ],
    );
    assert!(gw.addr.ip().is_loopback());
    assert!(
        dir.join("taskgate-state.redb").exists(),
        "the embedded store is not in the state directory"
    );

    // systemctl reload: the file is read and validated again.
    gw.hangup();
    let log = gw.log_with("configuration reloaded");
    assert!(
        log.contains("configuration reloaded"),
        "not reloaded: {log}"
    );
    // Secrets never reach the log.
    assert!(!log.contains("from-the-environment"), "{log}");

    // systemctl stop: SIGTERM, exit 0 within TimeoutStopSec.
    let stopping = Instant::now();
    let status = gw.stop();
    assert!(status.success(), "{status:?}");
    assert!(stopping.elapsed() < Duration::from_secs(stop_within));
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
